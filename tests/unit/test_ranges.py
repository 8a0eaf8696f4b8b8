"""Range handling against RFC 9110 and an independent oracle.  (If-Range and If-None-Match:
test_web_conditional.py.)"""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tgstream.streaming.ranges import (
    ByteRange,
    RangeNotSatisfiable,
    content_range,
    parse_range,
    unsatisfied_range,
)

Outcome = tuple[str, int, int]
FULL: Outcome = ("200", 0, 0)
UNSATISFIABLE: Outcome = ("416", 0, 0)


def outcome(header: str | None, size: int) -> Outcome:
    try:
        r = parse_range(header, size)
    except RangeNotSatisfiable as exc:
        assert exc.size == size
        return UNSATISFIABLE
    if r is None:
        return FULL
    assert 0 <= r.start <= r.end < size
    return ("206", r.start, r.end)


# --- oracle: a literal transcription of the ABNF, written apart from the code ---
#
#   Range            = ranges-specifier                      ; §14.2
#   ranges-specifier = range-unit "=" range-set              ; §14.1.1
#   range-set        = 1#range-spec
#   1#element        = *( "," OWS ) element *( OWS "," [ OWS element ] )   ; §5.6.1
#   range-spec       = int-range / suffix-range / other-range
#   int-range        = first-pos "-" [ last-pos ]
#   suffix-range     = "-" suffix-length
#   other-range      = 1*( %x21-2B / %x2D-7E )

_O_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_O_SPEC = r"(?:[0-9]+-[0-9]*|-[0-9]+|[\x21-\x2b\x2d-\x7e]+)"
_O_OWS = r"[ \t]*"
_O_SET = rf"(?:,{_O_OWS})*{_O_SPEC}(?:{_O_OWS},(?:{_O_OWS}{_O_SPEC})?)*"
_O_HEADER = re.compile(rf"({_O_TOKEN})=({_O_SET})")


def oracle(header: str | None, size: int) -> Outcome:
    if header is None:
        return FULL
    # Leading/trailing OWS is not part of a field value (§5.5).
    value = re.sub(r"^[ \t]+|[ \t]+$", "", header)
    m = _O_HEADER.fullmatch(value)
    if m is None or m[1].lower() != "bytes":
        return FULL
    elements = re.findall(_O_SPEC, m[2])
    if len(elements) != 1:
        return FULL
    spec = elements[0]
    if im := re.fullmatch(r"([0-9]+)-([0-9]*)", spec):
        first = int(im[1])
        last = int(im[2]) if im[2] else None
        if last is not None and last < first:
            return FULL
        if first >= size:
            return UNSATISFIABLE
        return ("206", first, size - 1 if last is None else min(last, size - 1))
    if sm := re.fullmatch(r"-([0-9]+)", spec):
        n = int(sm[1])
        if n == 0:
            return UNSATISFIABLE
        if size == 0:
            return FULL
        return ("206", max(0, size - n), size - 1)
    return FULL  # other-range: no meaning for bytes


def test_oracle_reads_the_abnf() -> None:
    assert oracle("bytes=0-1", 10) == ("206", 0, 1)
    assert oracle("bytes=,\t0-1 ,", 10) == ("206", 0, 1)
    assert oracle("bytes= 0-1", 10) == FULL
    assert oracle("bytes=0-1,2-3", 10) == FULL
    assert oracle("bytes=-3", 10) == ("206", 7, 9)


# --- generated headers ---------------------------------------------------------

_sizes = st.one_of(
    st.integers(0, 20),
    st.integers(0, 1 << 42),
    st.sampled_from([0, 1, 2, 4095, 4096, 4097, 1 << 20, (1 << 20) + 1, 5 << 30]),
)


@st.composite
def _number(draw: st.DrawFn, size: int) -> str:
    value = draw(
        st.one_of(
            st.integers(0, max(size + 2, 2)),
            st.sampled_from([0, 1, size - 1, size, size + 1]).filter(lambda v: v >= 0),
            st.integers(0, 10**30),
        )
    )
    zeros = draw(st.sampled_from(["", "", "0", "000"]))
    return zeros + str(value)


@st.composite
def _spec(draw: st.DrawFn, size: int) -> str:
    kind = draw(st.sampled_from(["int", "open", "suffix", "junk", "empty"]))
    if kind == "int":
        return f"{draw(_number(size))}-{draw(_number(size))}"
    if kind == "open":
        return f"{draw(_number(size))}-"
    if kind == "suffix":
        return f"-{draw(_number(size))}"
    if kind == "junk":
        return draw(
            st.one_of(
                st.sampled_from(["-", "--1", "1--2", "+1-2", "1-+2", "a-b", "0x1-2", "1-2-3"]),
                st.sampled_from(["\u0661-\u0662", "1 -2", "1- 2", "1_0-2", "１-2", "*", "1-2;x"]),
                st.text(st.characters(codec="latin-1"), max_size=6),
            )
        )
    return ""


@st.composite
def _well_formed(draw: st.DrawFn, size: int) -> str:
    unit = draw(st.sampled_from(["bytes", "BYTES", "Bytes"]))
    kind = draw(st.sampled_from(["int", "open", "suffix"]))
    number = _number(size)
    if kind == "int":
        spec = f"{draw(number)}-{draw(number)}"
    elif kind == "open":
        spec = f"{draw(number)}-"
    else:
        spec = f"-{draw(number)}"
    lead = draw(st.sampled_from(["", "", ",", ", ,\t"]))
    trail = draw(st.sampled_from(["", "", ",", " , ", "\t,"]))
    pad = draw(st.sampled_from(["", "", " ", "\t"]))
    return f"{pad}{unit}={lead}{spec}{trail}{pad}"


@st.composite
def _wild(draw: st.DrawFn, size: int) -> str:
    unit = draw(st.sampled_from(["bytes", "bytes", "BYTES", "byte", "items", "", "by tes"]))
    eq = draw(st.sampled_from(["=", "=", "=", " =", "= ", ""]))
    specs = draw(st.lists(_spec(size), min_size=0, max_size=3))
    seps = [draw(st.sampled_from([",", ", ", " ,", "\t,\t", ",,", " , , "])) for _ in specs]
    body = "".join(spec + sep for spec, sep in zip(specs, seps, strict=True))
    drop_last_separator = draw(st.booleans())
    if specs and drop_last_separator:
        body = body[: -len(seps[-1])]
    lead = draw(st.sampled_from(["", "", ",", ", ", " "]))
    pad = draw(st.sampled_from(["", "", " ", "\t", " \t"]))
    tail = draw(st.sampled_from(["", "", " ", "\t", "\r", "\n", "\x00"]))
    return f"{pad}{unit}{eq}{lead}{body}{pad}{tail}"


def _range_header(size: int) -> st.SearchStrategy[str]:
    return st.one_of(_well_formed(size), _wild(size))


@settings(max_examples=600)
@given(data=st.data(), size=_sizes)
def test_parse_range_matches_oracle(data: st.DataObject, size: int) -> None:
    header = data.draw(_range_header(size))
    assert outcome(header, size) == oracle(header, size)


@settings(max_examples=500)
@given(header=st.text(st.characters(codec="latin-1"), max_size=20), size=_sizes)
@example(header="bytes=0-0", size=1)
def test_parse_range_on_arbitrary_text_matches_oracle(header: str, size: int) -> None:
    assert outcome(header, size) == oracle(header, size)


@given(size=st.integers(1, 1 << 40), data=st.data())
def test_single_int_range_is_served_clamped(size: int, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, size - 1))
    last = data.draw(st.integers(start, size * 2))
    r = parse_range(f"bytes={start}-{last}", size)
    assert r == ByteRange(start, min(last, size - 1))
    assert r.length == min(last, size - 1) - start + 1


# --- explicit tables -----------------------------------------------------------

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # absent / empty / not for us -> 200
        (None, FULL),
        ("", FULL),
        ("   ", FULL),
        ("bytes", FULL),
        ("bytes=", FULL),
        ("bytes=,", FULL),
        ("bytes=, ,", FULL),
        ("items=0-1", FULL),
        ("byte=0-1", FULL),
        ("=0-1", FULL),
        ("0-1", FULL),
        # the common forms
        ("bytes=0-0", ("206", 0, 0)),
        ("bytes=0-1", ("206", 0, 1)),
        ("bytes=0-999", ("206", 0, 999)),
        ("bytes=0-", ("206", 0, 999)),
        ("bytes=500-", ("206", 500, 999)),
        ("bytes=999-", ("206", 999, 999)),
        ("bytes=999-999", ("206", 999, 999)),
        ("bytes=10-20", ("206", 10, 20)),
        # last-pos past the end is clamped (§14.1.2)
        ("bytes=0-1000", ("206", 0, 999)),
        ("bytes=500-123456789012345678901234567890", ("206", 500, 999)),
        # suffix ranges
        ("bytes=-1", ("206", 999, 999)),
        ("bytes=-500", ("206", 500, 999)),
        ("bytes=-1000", ("206", 0, 999)),
        ("bytes=-1001", ("206", 0, 999)),
        ("bytes=-99999999999999999999999", ("206", 0, 999)),
        # unsatisfiable -> 416
        ("bytes=1000-", UNSATISFIABLE),
        ("bytes=1000-1000", UNSATISFIABLE),
        ("bytes=1000-2000", UNSATISFIABLE),
        ("bytes=99999999999999999999999-", UNSATISFIABLE),
        ("bytes=-0", UNSATISFIABLE),
        ("bytes=-000", UNSATISFIABLE),
        # case-insensitive unit, leading zeros
        ("BYTES=0-1", ("206", 0, 1)),
        ("ByTeS=0-1", ("206", 0, 1)),
        ("bytes=007-010", ("206", 7, 10)),
        ("bytes=-0010", ("206", 990, 999)),
        ("bytes=0000000000000000000000000000001-2", ("206", 1, 2)),
        # OWS: around the value and around commas only
        (" bytes=0-1 ", ("206", 0, 1)),
        ("\tbytes=0-1\t", ("206", 0, 1)),
        ("bytes=0-1,", ("206", 0, 1)),
        ("bytes=0-1 ,", ("206", 0, 1)),
        ("bytes=,0-1", ("206", 0, 1)),
        ("bytes=, \t,0-1", ("206", 0, 1)),
        ("bytes=0-1, ,\t,", ("206", 0, 1)),
        ("bytes= 0-1", FULL),
        ("bytes =0-1", FULL),
        ("bytes = 0-1", FULL),
        ("bytes=0 -1", FULL),
        ("bytes=0- 1", FULL),
        ("bytes=- 1", FULL),
        ("bytes=0-1\r\n", FULL),
        ("bytes=0-1\n", FULL),
        ("\u00a0bytes=0-1", FULL),
        # invalid syntax -> 200
        ("bytes=5-4", FULL),
        ("bytes=2000-1000", FULL),
        ("bytes=-", FULL),
        ("bytes=--1", FULL),
        ("bytes=1--2", FULL),
        ("bytes=+1-2", FULL),
        ("bytes=1-+2", FULL),
        ("bytes=-+2", FULL),
        ("bytes=-1-", FULL),
        ("bytes=a-b", FULL),
        ("bytes=1.5-2", FULL),
        ("bytes=0x10-20", FULL),
        ("bytes=1_0-20", FULL),
        ("bytes=\u0661-\u0662", FULL),  # Arabic-Indic digits are not DIGIT
        ("bytes=１-２", FULL),  # fullwidth digits are not DIGIT
        ("bytes=*", FULL),
        ("bytes=0-1;q=1", FULL),
        ("bytes==0-1", FULL),
        # several ranges -> 200, satisfiable or not, valid or not
        ("bytes=0-1,2-3", FULL),
        ("bytes=0-1, 5-", FULL),
        ("bytes=0-0,-1", FULL),
        ("bytes=0-1,0-1", FULL),
        ("bytes=5000-,6000-", FULL),
        ("bytes=0-1,x", FULL),
    ],
)
def test_parse_range_table(header: str | None, expected: Outcome) -> None:
    assert outcome(header, SIZE) == expected
    assert oracle(header, SIZE) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", UNSATISFIABLE),
        ("bytes=0-", UNSATISFIABLE),
        ("bytes=5-10", UNSATISFIABLE),
        ("bytes=-0", UNSATISFIABLE),
        # §14.1.1: the only satisfiable range for an empty representation; there
        # is no Content-Range for zero bytes, so the empty body goes out as 200.
        ("bytes=-1", FULL),
        ("bytes=-100", FULL),
        ("bytes=0-1,2-3", FULL),
        ("bytes=1-0", FULL),
        (None, FULL),
    ],
)
def test_parse_range_empty_file(header: str | None, expected: Outcome) -> None:
    assert outcome(header, 0) == expected


def test_one_byte_file() -> None:
    assert parse_range("bytes=0-0", 1) == ByteRange(0, 0)
    assert parse_range("bytes=-1", 1) == ByteRange(0, 0)
    assert parse_range("bytes=-5", 1) == ByteRange(0, 0)
    assert parse_range("bytes=0-", 1) == ByteRange(0, 0)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=1-", 1)


def test_numbers_longer_than_the_int_conversion_limit() -> None:
    # CPython refuses int() on more than 4300 digits; positions are compared as
    # text, so such headers are still answered correctly and never raise.
    huge = "9" * 5000
    assert parse_range(f"bytes=0-{huge}", SIZE) == ByteRange(0, 999)
    assert parse_range(f"bytes=-{huge}", SIZE) == ByteRange(0, 999)
    assert parse_range(f"bytes={huge}8-{huge}", SIZE) is None
    assert parse_range(f"bytes={'0' * 5000}5-6", SIZE) == ByteRange(5, 6)
    with pytest.raises(RangeNotSatisfiable):
        parse_range(f"bytes={huge}-", SIZE)
    with pytest.raises(RangeNotSatisfiable):
        parse_range(f"bytes={huge}8-{huge}9", SIZE)
    with pytest.raises(RangeNotSatisfiable):
        parse_range(f"bytes=-{'0' * 5000}", SIZE)


def test_huge_file() -> None:
    size = 4 << 40
    assert parse_range("bytes=-1", size) == ByteRange(size - 1, size - 1)
    assert parse_range(f"bytes={size - 1}-", size) == ByteRange(size - 1, size - 1)


def test_negative_size_is_a_bug() -> None:
    with pytest.raises(ValueError):
        parse_range("bytes=0-1", -1)


def test_range_not_satisfiable_carries_size() -> None:
    with pytest.raises(RangeNotSatisfiable) as info:
        parse_range("bytes=5000-", SIZE)
    assert info.value.size == SIZE
    assert unsatisfied_range(info.value.size) == "bytes */1000"


def test_byte_range_value_object() -> None:
    r = ByteRange(3, 7)
    assert r.length == 5
    assert ByteRange(0, 0).length == 1
    assert r == ByteRange(3, 7)
    assert hash(r) == hash(ByteRange(3, 7))
    with pytest.raises(AttributeError):
        r.start = 4  # type: ignore[misc]


# --- Content-Range -------------------------------------------------------------


def test_content_range() -> None:
    assert content_range(ByteRange(0, 0), 1) == "bytes 0-0/1"
    assert content_range(ByteRange(0, 999), 1000) == "bytes 0-999/1000"
    assert content_range(ByteRange(500, 999), 1000) == "bytes 500-999/1000"
    assert content_range(ByteRange(1, 1), 5 << 30) == f"bytes 1-1/{5 << 30}"


@pytest.mark.parametrize(
    ("r", "size"), [(ByteRange(0, 1000), 1000), (ByteRange(5, 4), 10), (ByteRange(-1, 2), 10)]
)
def test_content_range_rejects_ranges_outside_the_file(r: ByteRange, size: int) -> None:
    with pytest.raises(ValueError):
        content_range(r, size)


def test_unsatisfied_range() -> None:
    assert unsatisfied_range(0) == "bytes */0"
    assert unsatisfied_range(1000) == "bytes */1000"
    with pytest.raises(ValueError):
        unsatisfied_range(-1)


@given(size=st.integers(1, 1 << 45), data=st.data())
def test_content_range_round_trips_through_parse_range(size: int, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, size - 1))
    end = data.draw(st.integers(start, size - 1))
    header = content_range(ByteRange(start, end), size)
    m = re.fullmatch(r"bytes ([0-9]+)-([0-9]+)/([0-9]+)", header)
    assert m is not None
    assert parse_range(f"bytes={m[1]}-{m[2]}", int(m[3])) == ByteRange(start, end)
