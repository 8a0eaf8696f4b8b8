"""If-Range and If-None-Match against RFC 9110 §13.1, and the validators they compare."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tgstream.store import FileInfo
from tgstream.web.conditional import (
    etag_of,
    if_none_match_matches,
    if_range_allows_partial,
    last_modified_of,
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
