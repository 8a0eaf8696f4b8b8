"""HTTP range requests (RFC 9110 §14): which bytes a ``Range`` header selects.

Everything here is pure: header strings in, decisions out.  The conditionals that
gate a range (If-Range, If-None-Match) are HTTP validators, so they live with the
file response in ``tgstream.web.conditional``.  The caller owns the status codes:

* ``parse_range`` returns ``None``            -> 200 with the full body;
* ``parse_range`` returns a :class:`ByteRange` -> 206 with ``Content-Range: content_range(...)``;
* ``parse_range`` raises :class:`RangeNotSatisfiable` -> 416 with
  ``Content-Range: unsatisfied_range(size)``.

Only a single byte range is ever served.  RFC 9110 §14.2 lets a server ignore
``Range`` altogether, so a request for several ranges gets the whole
representation with 200 instead of a ``multipart/byteranges`` body: players
never ask for several ranges, and a 200 is always a correct answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ByteRange",
    "RangeNotSatisfiable",
    "content_range",
    "parse_range",
    "unsatisfied_range",
]


@dataclass(frozen=True, slots=True)
class ByteRange:
    """An inclusive, already satisfiable byte range: ``0 <= start <= end < size``."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class RangeNotSatisfiable(Exception):
    """The Range header was valid but selects nothing (RFC 9110 §15.5.17, status 416).

    ``size`` is kept so the 416 response can carry ``Content-Range: bytes */size``,
    which §14.4 says a server SHOULD send.
    """

    def __init__(self, size: int) -> None:
        super().__init__(f"range not satisfiable for a representation of {size} bytes")
        self.size = size


# OWS = *( SP / HTAB ) (§5.6.3).  Deliberately not str.strip(): CR, LF, VT and
# Unicode spaces are not OWS, so a header carrying them is not well formed.
_OWS = " \t"
# range-unit is a token (§14.1, §5.6.2); tchar is spelled out because \w would
# also accept non-ASCII letters.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# §14.1.1: int-range = first-pos "-" [ last-pos ], suffix-range = "-" suffix-length,
# each position being 1*DIGIT.  DIGIT is ASCII 0-9 only (RFC 5234 B.1), so [0-9]
# rather than \d, which in Python also matches e.g. Arabic-Indic digits.
_INT_RANGE = re.compile(r"([0-9]+)-([0-9]*)")
_SUFFIX_RANGE = re.compile(r"-([0-9]+)")


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """Interpret a ``Range`` header for a representation of ``size`` bytes.

    Returns the single byte range to serve with 206, or ``None`` when the full
    representation should be sent with 200.  Raises :class:`RangeNotSatisfiable`
    (416) only for a well-formed single byte range that selects no byte.

    Decisions, with the part of RFC 9110 behind each:

    * Header absent or empty -> ``None``.
    * Leading and trailing OWS around the whole value is dropped: it is not part
      of a field value (§5.5).  No whitespace is accepted anywhere else except
      around the commas of the range-set, which is exactly where the list ABNF
      puts OWS (§5.6.1); ``bytes = 0-1``, ``bytes= 0-1`` and ``bytes=0 - 1`` are
      therefore invalid.
    * The unit is compared case-insensitively (§14.1: "range unit names are
      case-insensitive"); a unit other than ``bytes`` -> ``None``, because an
      origin server MUST ignore a range unit it does not understand (§14.2).
    * Syntactically invalid -> ``None``.  §14.2 allows a server to ignore a Range
      header with an invalid ranges-specifier; answering 200 is always safe.
      Invalid includes: non-ASCII digits, signs, ``a-b`` with ``b < a`` (§14.1.1
      "an int-range is invalid if the last-pos value is present and less than
      the first-pos"), an ``other-range`` (only int-range and suffix-range mean
      anything for bytes, §14.1.2), and a range-set with no element at all.
    * Empty list elements (``bytes=0-9,`` or ``bytes=, 0-9``) are skipped: §5.6.1
      requires recipients to accept them, so such a header holds one range.
    * More than one range -> ``None`` (§14.2 "a server MAY ignore the Range
      header field"), whatever those ranges are, even if none is satisfiable.
    * ``a-b``: served as ``a..min(b, size-1)`` (§14.1.2 "if the last-pos value is
      absent, or if the value is greater than or equal to the current length of
      the representation data, the byte range is interpreted as the remainder
      of the representation").  ``a-`` is the same with ``b`` absent.
    * ``-n``: the last ``n`` bytes; ``n >= size`` is the whole representation
      (§14.1.2 "if the selected representation is shorter than the specified
      suffix-length, the entire representation is used").
    * Unsatisfiable -> 416 (§14.1.1): an int-range with ``first-pos >= size``
      (so every int-range when ``size == 0``), or a suffix-range with
      ``suffix-length == 0``.
    * ``size == 0`` with ``-n``, ``n > 0``: §14.1.1 says this is the *only*
      satisfiable range-spec for an empty representation, so it must not be a
      416; yet no ``Content-Range`` can describe zero bytes, so the whole (empty)
      representation is served with 200 -> ``None``.
    * Leading zeros are allowed (``1*DIGIT``) and numbers may be arbitrarily
      large: positions are compared as digit strings, so values past the
      int-from-string digit limit of CPython neither raise nor misbehave.
    """
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    if header is None:
        return None
    unit, eq, range_set = header.strip(_OWS).partition("=")
    # The range-set follows "=" immediately (§14.1.1), hence the check on its
    # first character: only commas, not OWS, may precede the first element.
    if not eq or not _TOKEN.fullmatch(unit) or range_set[:1] in (" ", "\t"):
        return None
    if unit.lower() != "bytes":
        return None
    specs = [element.strip(_OWS) for element in range_set.split(",")]
    specs = [spec for spec in specs if spec]
    if len(specs) != 1:
        # Zero elements is invalid (1#range-spec); several are served as 200.
        # Any syntax error inside a multi-range header also yields 200, so the
        # elements need no further inspection.
        return None
    return _single_byte_range(specs[0], size)


def _single_byte_range(spec: str, size: int) -> ByteRange | None:
    if match := _INT_RANGE.fullmatch(spec):
        first, last = _canonical(match[1]), match[2]
        if last and _less(_canonical(last), first):
            return None
        if not _less(first, _canonical(str(size))):
            raise RangeNotSatisfiable(size)
        start = int(first)
        end = size - 1
        if last:
            last = _canonical(last)
            if _less(last, _canonical(str(end))):
                end = int(last)
        return ByteRange(start, end)
    if match := _SUFFIX_RANGE.fullmatch(spec):
        suffix = _canonical(match[1])
        if suffix == "0":
            raise RangeNotSatisfiable(size)
        if size == 0:
            return None
        if _less(suffix, _canonical(str(size))):
            return ByteRange(size - int(suffix), size - 1)
        return ByteRange(0, size - 1)
    return None


def _canonical(digits: str) -> str:
    return digits.lstrip("0") or "0"


def _less(a: str, b: str) -> bool:
    """``int(a) < int(b)`` for canonical digit strings, without building the ints."""
    return (len(a), a) < (len(b), b)


def content_range(r: ByteRange, size: int) -> str:
    """``Content-Range`` value for a 206 response (§14.4): ``bytes first-last/size``."""
    if not 0 <= r.start <= r.end < size:
        raise ValueError(f"{r} is not within a representation of {size} bytes")
    return f"bytes {r.start}-{r.end}/{size}"


def unsatisfied_range(size: int) -> str:
    """``Content-Range`` value for a 416 response (§14.4): ``bytes */size``."""
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    return f"bytes */{size}"
