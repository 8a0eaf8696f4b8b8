"""Validators of a file and the conditional requests they decide (RFC 9110 §8.8, §13.1).

Pure: header strings in, decisions out (the clock, where a rule needs it, is an argument).
The file response (``response.py``) applies them in the order of §13.2.2: If-None-Match,
else If-Modified-Since, before Range; If-Range only when there is a Range to honour.
"""

from __future__ import annotations

import calendar
import re
import time
from email.utils import formatdate

from ..store import FileInfo

__all__ = [
    "etag_of",
    "if_modified_since_unchanged",
    "if_none_match_matches",
    "if_range_allows_partial",
    "last_modified_of",
    "parse_http_date",
]


def etag_of(info: FileInfo) -> str:
    # The Telegram file id and size never change for a given file: a strong validator.
    return f'"{info.media_id:x}-{info.size:x}"'


def last_modified_of(info: FileInfo) -> str:
    return formatdate(info.date, usegmt=True)


# OWS = *( SP / HTAB ) (§5.6.3), not str.strip(): CR, LF, VT and Unicode spaces are not OWS.
_OWS = " \t"
# entity-tag = [ weak ] opaque-tag; weak = %s"W/"; opaque-tag = DQUOTE *etagc DQUOTE;
# etagc = %x21 / %x23-7E / obs-text (§8.8.3).  "W/" is case-sensitive (%s).
_ETAGC = r"[\x21\x23-\x7e\x80-\xff]*"
_ENTITY_TAG = re.compile(rf'(W/)?("{_ETAGC}")')
# One element of If-None-Match's #entity-tag list plus the separator after it.
_LIST_ITEM = re.compile(rf'[ \t]*(?:(W/)?("{_ETAGC}"))?[ \t]*(,|$)')


def _opaque_tag(etag: str) -> tuple[bool, str]:
    """Split our own ETag into (is_weak, quoted opaque-tag).

    Callers may pass either the header form (``"abc"`` / ``W/"abc"``) or the
    bare value (``abc``); the bare form is quoted so both spellings compare the
    same way.
    """
    match = _ENTITY_TAG.fullmatch(etag)
    if match:
        return match[1] is not None, match[2]
    return False, f'"{etag}"'


def if_range_allows_partial(if_range: str | None, etag: str, last_modified_http_date: str) -> bool:
    """Whether a Range request may be honoured given its ``If-Range`` (RFC 9110 §13.1.5).

    ``etag`` is our current entity-tag, ``last_modified_http_date`` our current
    ``Last-Modified`` value exactly as we send it.

    * Absent or empty ``If-Range`` -> True: there is no condition to fail.
    * An entity-tag: True only on a *strong* match (§8.8.3.2): both tags strong
      and their opaque-tags equal character by character.  A weak tag from the
      client (which §13.1.5 forbids it to send) or a weak ETag of ours never
      matches.
    * Otherwise the value is taken as an HTTP-date, true only if it "exactly
      matches" our Last-Modified field value, i.e. the same string; clients echo
      back the value we sent, and a date that merely parses to the same instant
      is not what the RFC asks for.
    * Anything else (garbage, an entity-tag list) -> False, so the full
      representation is sent with 200: the safe outcome when in doubt.
    """
    if if_range is None:
        return True
    value = if_range.strip(_OWS)
    if not value:
        return True
    # §13.1.5: an entity-tag and an HTTP-date are told apart by a DQUOTE in the
    # first three characters.
    if '"' in value[:3]:
        match = _ENTITY_TAG.fullmatch(value)
        if match is None or match[1] is not None:
            return False
        ours_weak, ours = _opaque_tag(etag)
        return not ours_weak and match[2] == ours
    return value == last_modified_http_date.strip(_OWS)


def if_none_match_matches(header: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` matches our ETag (RFC 9110 §13.1.2).

    True means the condition is *false*: a GET or HEAD is answered 304.

    * Absent or empty -> False.
    * ``*`` -> True: the representation exists.
    * Otherwise a comma-separated list of entity-tags, compared with the weak
      comparison (§8.8.3.2): ``W/`` prefixes are disregarded on both sides and
      the opaque-tags must be equal.  Empty list elements are skipped (§5.6.1).
      Commas inside a quoted opaque-tag are part of the tag, not separators.
    * A malformed list -> False: the precondition is not evaluated and a normal
      200 is sent, which is never wrong.
    """
    if header is None:
        return False
    value = header.strip(_OWS)
    if not value:
        return False
    if value == "*":
        return True
    _, ours = _opaque_tag(etag)
    pos = 0
    matched = False
    while pos < len(value):
        item = _LIST_ITEM.match(value, pos)
        if item is None or item.end() == pos:
            return False
        if item[2] == ours:
            matched = True
        pos = item.end()
    # Keep scanning after a hit so a malformed tail still yields False.
    return matched


# HTTP-date (§5.6.7): recipients accept all three forms.  Day and month names are
# case-sensitive (%s), so no re.IGNORECASE.
_DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_DAY_LONG = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH = f"(?P<month>{'|'.join(_MONTHS)})"
_TIME = "(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
_IMF_FIXDATE = re.compile(
    rf"{_DAY}, (?P<day>[0-9]{{2}}) {_MONTH} (?P<year>[0-9]{{4}}) {_TIME} GMT", re.ASCII
)
_RFC850_DATE = re.compile(
    rf"{_DAY_LONG}, (?P<day>[0-9]{{2}})-{_MONTH}-(?P<year>[0-9]{{2}}) {_TIME} GMT", re.ASCII
)
_ASCTIME_DATE = re.compile(
    rf"{_DAY} {_MONTH} (?P<day>[0-9]{{2}}| [0-9]) {_TIME} (?P<year>[0-9]{{4}})", re.ASCII
)


def _two_digit_year(yy: int, now: float) -> int:
    """§5.6.7: a two-digit year more than 50 years in the future is the most recent past
    year with those digits."""
    this_year = time.gmtime(now).tm_year
    year = this_year - this_year % 100 + yy
    if year > this_year + 50:
        year -= 100
    return year


def parse_http_date(value: str, now: float) -> int | None:
    """The POSIX time of an HTTP-date (RFC 9110 §5.6.7), or None when it is not one.

    IMF-fixdate, rfc850-date and asctime-date are accepted, each exactly as its grammar
    says (no other spacing, case or zone); the date must exist in the calendar and the time
    of day be 00:00:00-23:59:60 (a leap second counts as the next second).  ``now`` (POSIX
    seconds) only places an rfc850-date's two-digit year.  The day name is not checked
    against the date: the grammar does not tie them together.
    """
    value = value.strip(_OWS)
    match = _IMF_FIXDATE.fullmatch(value) or _ASCTIME_DATE.fullmatch(value)
    year_digits = 4
    if match is None:
        match = _RFC850_DATE.fullmatch(value)
        year_digits = 2
        if match is None:
            return None
    year = int(match["year"])
    if year_digits == 2:
        year = _two_digit_year(year, now)
    month = _MONTHS.index(match["month"]) + 1
    day = int(match["day"].strip())
    hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second"])
    if year < 1 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    if hour > 23 or minute > 59 or second > 60:
        return None
    return calendar.timegm((year, month, day, hour, minute, 0, 0, 0, 0)) + second


def if_modified_since_unchanged(
    header: str | None, last_modified: int, method: str, now: float
) -> bool:
    """Whether ``If-Modified-Since`` says the client's copy is current (RFC 9110 §13.1.3).

    True means the condition is *false*: the GET or HEAD is answered 304.
    ``last_modified`` is our Last-Modified in POSIX seconds (what we send, at one-second
    resolution), ``now`` the server's clock for ``parse_http_date``.

    * Only for GET and HEAD: any other method ignores the field.
    * Absent, not a valid HTTP-date, or a list of several -> False: ignored, 200.
    * Otherwise True when our Last-Modified is at or before the given date.

    The caller evaluates it only when the request has no If-None-Match (§13.1.3, §13.2.2):
    an entity-tag is the more accurate validator and takes its place.
    """
    if header is None or method not in ("GET", "HEAD"):
        return False
    since = parse_http_date(header, now)
    return since is not None and last_modified <= since
