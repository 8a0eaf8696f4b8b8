"""If-Range, If-None-Match and If-Modified-Since against RFC 9110 §13.1, the HTTP-dates they
read (§5.6.7), and the validators they compare."""

from __future__ import annotations

import calendar
from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tgstream.store import FileInfo
from tgstream.web.conditional import (
    etag_of,
    if_modified_since_unchanged,
    if_none_match_matches,
    if_range_allows_partial,
    last_modified_of,
    parse_http_date,
)

# --- If-Range (§13.1.5) --------------------------------------------------------

ETAG = '"v1-abc"'
LAST_MODIFIED = "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize(
    ("if_range", "etag", "allowed"),
    [
        (None, ETAG, True),
        ("", ETAG, True),
        ("  ", ETAG, True),
        ('"v1-abc"', ETAG, True),
        (' "v1-abc"\t', ETAG, True),
        ('"v1-abc"', "v1-abc", True),  # our tag may be passed unquoted
        ('"v1-abd"', ETAG, False),
        ('"V1-ABC"', ETAG, False),  # opaque-tags compare case-sensitively
        ('"v1-abc', ETAG, False),
        ('v1-abc"', ETAG, False),
        ('""', ETAG, False),
        ('""', '""', True),
        # weak validators never match in a strong comparison
        ('W/"v1-abc"', ETAG, False),
        ('w/"v1-abc"', ETAG, False),
        ('"v1-abc"', 'W/"v1-abc"', False),
        ('W/"v1-abc"', 'W/"v1-abc"', False),
        # If-Range holds one validator, not a list
        ('"v1-abc", "v1-abc"', ETAG, False),
        ('"x", "v1-abc"', ETAG, False),
        ("*", ETAG, False),
        ("garbage", ETAG, False),
        ("v1-abc", ETAG, False),
    ],
)
def test_if_range_entity_tags(if_range: str | None, etag: str, allowed: bool) -> None:
    assert if_range_allows_partial(if_range, etag, LAST_MODIFIED) is allowed


@pytest.mark.parametrize(
    ("if_range", "allowed"),
    [
        (LAST_MODIFIED, True),
        (f" {LAST_MODIFIED} ", True),
        ("Sun, 06 Nov 1994 08:49:38 GMT", False),
        ("Mon, 07 Nov 1994 08:49:37 GMT", False),
        # same instant in the obsolete formats is not an exact match (§13.1.5)
        ("Sunday, 06-Nov-94 08:49:37 GMT", False),
        ("Sun Nov  6 08:49:37 1994", False),
        ("sun, 06 nov 1994 08:49:37 gmt", False),
        ("Sun, 06 Nov 1994 08:49:37 +0000", False),
        ("yesterday", False),
    ],
)
def test_if_range_dates(if_range: str, allowed: bool) -> None:
    assert if_range_allows_partial(if_range, ETAG, LAST_MODIFIED) is allowed


@given(tag=st.text(st.characters(min_codepoint=0x23, max_codepoint=0x7E), max_size=20))
def test_if_range_strong_tag_matches_only_itself(tag: str) -> None:
    ours = f'"{tag}"'
    assert if_range_allows_partial(ours, ours, LAST_MODIFIED)
    assert if_range_allows_partial(ours, tag, LAST_MODIFIED)
    assert not if_range_allows_partial(f"W/{ours}", ours, LAST_MODIFIED)
    assert not if_range_allows_partial(f'"{tag}x"', ours, LAST_MODIFIED)


# --- If-None-Match (§13.1.2) ---------------------------------------------------


@pytest.mark.parametrize(
    ("header", "etag", "matches"),
    [
        (None, ETAG, False),
        ("", ETAG, False),
        (" ", ETAG, False),
        ("*", ETAG, True),
        (" * ", ETAG, True),
        ('"v1-abc"', ETAG, True),
        ('"v1-abc"', "v1-abc", True),
        ('W/"v1-abc"', ETAG, True),  # weak comparison ignores W/ on either side
        ('"v1-abc"', 'W/"v1-abc"', True),
        ('W/"v1-abc"', 'W/"v1-abc"', True),
        ('"other"', ETAG, False),
        ('"V1-ABC"', ETAG, False),
        ('"a", "b", "v1-abc"', ETAG, True),
        ('"a",W/"v1-abc","b"', ETAG, True),
        ('"a", "b"', ETAG, False),
        (',"v1-abc",', ETAG, True),
        (', ,\t"v1-abc" , ,', ETAG, True),
        # a comma inside an opaque-tag belongs to the tag
        ('"a,b"', '"a,b"', True),
        ('"a,b"', '"a"', False),
        ('"a,b"', '"b"', False),
        # malformed lists are ignored altogether
        ('"v1-abc', ETAG, False),
        ("v1-abc", ETAG, False),
        ('w/"v1-abc"', ETAG, False),  # the W/ prefix is case-sensitive
        ('"v1-abc" "v1-abc"', ETAG, False),
        ('"v1-abc", garbage', ETAG, False),
        ('garbage, "v1-abc"', ETAG, False),
        ('*, "v1-abc"', ETAG, False),
        ('"v1-abc"\n', ETAG, False),
        ('"v1-abc",\n', ETAG, False),
        ('"v1-abc",\x00', ETAG, False),
    ],
)
def test_if_none_match(header: str | None, etag: str, matches: bool) -> None:
    assert if_none_match_matches(header, etag) is matches


_etagc = st.characters(codec="latin-1").filter(
    lambda c: c == "!" or "\x23" <= c <= "\x7e" or c >= "\x80"
)
_opaque = st.text(_etagc, max_size=8).map(lambda s: f'"{s}"')


@given(
    tags=st.lists(st.tuples(st.booleans(), _opaque), max_size=5),
    ours=st.tuples(st.booleans(), _opaque),
    seps=st.lists(st.sampled_from([",", ", ", " ,", "\t,\t", ", ,"]), min_size=5, max_size=5),
)
def test_if_none_match_weak_comparison(
    tags: list[tuple[bool, str]], ours: tuple[bool, str], seps: list[str]
) -> None:
    header = "".join(
        ("W/" if weak else "") + tag + (sep if i < len(tags) - 1 else "")
        for i, ((weak, tag), sep) in enumerate(zip(tags, seps, strict=False))
    )
    etag = ("W/" if ours[0] else "") + ours[1]
    expected = any(tag == ours[1] for _, tag in tags)
    assert if_none_match_matches(header, etag) is expected


# --- the validators of a file ----------------------------------------------------


def _file(media_id: int = 0xABC, size: int = 1000, date: int = 784111777) -> FileInfo:
    return FileInfo(
        message_id=7,
        media_id=media_id,
        access_hash=1,
        file_reference=b"r",
        dc=2,
        size=size,
        mime_type="video/mp4",
        file_name="a.mp4",
        kind="document",
        thumb_size="",
        date=date,
    )


def test_etag_is_strong_and_names_the_file_and_its_size() -> None:
    assert etag_of(_file()) == '"abc-3e8"'
    assert etag_of(_file(size=999)) != etag_of(_file())
    assert etag_of(_file(media_id=0xABD)) != etag_of(_file())
    # A strong tag: If-Range may rely on it, so a range of it is never mixed with another.
    assert if_range_allows_partial(etag_of(_file()), etag_of(_file()), "")


def test_last_modified_is_the_message_date_as_an_imf_fixdate() -> None:
    assert last_modified_of(_file()) == LAST_MODIFIED
    assert if_range_allows_partial(LAST_MODIFIED, etag_of(_file()), last_modified_of(_file()))


# --- HTTP-date (§5.6.7) ----------------------------------------------------------

INSTANT = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT, the RFC's own example
NOW = calendar.timegm((2026, 12, 2, 0, 0, 0, 0, 0, 0))


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850 format
        "Sun Nov  6 08:49:37 1994",  # ANSI C's asctime() format
        " Sun, 06 Nov 1994 08:49:37 GMT\t",  # OWS around the value
        "Mon, 06 Nov 1994 08:49:37 GMT",  # the day name is not checked against the date
    ],
)
def test_the_three_date_formats_name_the_same_instant(value: str) -> None:
    assert parse_http_date(value, NOW) == INSTANT


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "784111777",
        "sun, 06 nov 1994 08:49:37 gmt",  # names are case-sensitive
        "SUN, 06 NOV 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 UTC",  # only GMT
        "Sun, 06 Nov 1994 08:49:37 +0000",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 6 Nov 1994 08:49:37 GMT",  # two-digit day in IMF-fixdate
        "Sun, 06 Nov 94 08:49:37 GMT",  # four-digit year in IMF-fixdate
        "Sun,  06 Nov 1994 08:49:37 GMT",
        "Sun 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 November 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sun, 06 Nov 1994 08:49 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT",  # a list
        "Sun, 06 Nov 1994 08:49:37 GMT\n",  # not OWS
        "Sun, 06 Nov 1994 08:49:37 GMT\x00",
        "Sun, 06 Nov 1994 08:49:37\u00a0GMT",
        "Sun, \uff10\uff16 Nov 1994 08:49:37 GMT",  # full-width digits are not DIGIT
        "Sun, 31 Nov 1994 08:49:37 GMT",  # no such day
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 29 Feb 1900 08:49:37 GMT",  # 1900 is no leap year
        "Sun, 06 Nov 0000 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 06-Nov-94 08:49:37 GMT",  # RFC 850 needs the long day name
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sunday, 06 Nov 94 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",  # asctime pads a one-digit day with a space
        "Sun Nov 06 08:49:37 1994 GMT",
    ],
)
def test_anything_else_is_no_date(value: str) -> None:
    assert parse_http_date(value, NOW) is None


def test_leap_days_leap_seconds_and_asctime_padding() -> None:
    assert parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT", NOW) == calendar.timegm(
        (2024, 2, 29, 0, 0, 0, 0, 0, 0)
    )
    assert parse_http_date("Sat, 29 Feb 2000 00:00:00 GMT", NOW) is not None
    # 23:59:60 is the next day's first second.
    leap = parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT", NOW)
    assert leap == parse_http_date("Sun, 01 Jan 2017 00:00:00 GMT", NOW)
    assert parse_http_date("Sun Nov 16 08:49:37 1994", NOW) == INSTANT + 10 * 86400


@pytest.mark.parametrize(
    ("value", "now_year", "year"),
    [
        # "more than 50 years in the future" is the most recent past year with those digits
        ("Sunday, 06-Nov-94 08:49:37 GMT", 2026, 1994),
        ("Monday, 06-Nov-26 08:49:37 GMT", 2026, 2026),
        ("Monday, 06-Nov-76 08:49:37 GMT", 2026, 2076),  # exactly 50 years ahead: kept
        ("Monday, 06-Nov-77 08:49:37 GMT", 2026, 1977),
        ("Monday, 06-Nov-00 08:49:37 GMT", 2026, 2000),
        ("Monday, 06-Nov-49 08:49:37 GMT", 2099, 2049),
        ("Monday, 06-Nov-51 08:49:37 GMT", 2000, 1951),
        ("Monday, 06-Nov-50 08:49:37 GMT", 2000, 2050),
        ("Monday, 06-Nov-98 08:49:37 GMT", 2099, 2098),
    ],
)
def test_rfc850_two_digit_years(value: str, now_year: int, year: int) -> None:
    now = calendar.timegm((now_year, 6, 1, 0, 0, 0, 0, 0, 0))
    parsed = parse_http_date(value, now)
    assert parsed is not None
    assert parsed == calendar.timegm((year, 11, 6, 8, 49, 37, 0, 0, 0))


@given(st.integers(0, 253402300799))  # up to 9999-12-31T23:59:59Z
def test_imf_fixdate_round_trips(instant: int) -> None:
    assert parse_http_date(formatdate(instant, usegmt=True), NOW) == instant


# --- If-Modified-Since (§13.1.3) -------------------------------------------------


@pytest.mark.parametrize(
    ("header", "method", "unchanged"),
    [
        (None, "GET", False),
        (LAST_MODIFIED, "GET", True),  # at Last-Modified: not modified
        (LAST_MODIFIED, "HEAD", True),
        ("Sun, 06 Nov 1994 08:49:38 GMT", "GET", True),  # after it
        ("Fri, 01 Jan 2100 00:00:00 GMT", "GET", True),
        ("Sun, 06 Nov 1994 08:49:36 GMT", "GET", False),  # before it: modified since
        ("Thu, 01 Jan 1970 00:00:00 GMT", "GET", False),
        ("Sunday, 06-Nov-94 08:49:37 GMT", "GET", True),
        ("Sun Nov  6 08:49:37 1994", "GET", True),
        # ignored for other methods (§13.1.3)
        (LAST_MODIFIED, "POST", False),
        (LAST_MODIFIED, "PUT", False),
        (LAST_MODIFIED, "OPTIONS", False),
        (LAST_MODIFIED, "get", False),  # methods are case-sensitive
        # ignored when not a valid HTTP-date, or a list
        ("", "GET", False),
        ("yesterday", "GET", False),
        ("Sun, 06 Nov 1994 08:49:37 +0000", "GET", False),
        (f"{LAST_MODIFIED}, {LAST_MODIFIED}", "GET", False),
        ("Sun, 31 Nov 1994 08:49:37 GMT", "GET", False),
    ],
)
def test_if_modified_since(header: str | None, method: str, unchanged: bool) -> None:
    assert if_modified_since_unchanged(header, INSTANT, method, NOW) is unchanged


@given(last=st.integers(0, 2**33), since=st.integers(0, 2**33))
def test_if_modified_since_compares_seconds(last: int, since: int) -> None:
    header = formatdate(since, usegmt=True)
    assert if_modified_since_unchanged(header, last, "GET", NOW) is (last <= since)
