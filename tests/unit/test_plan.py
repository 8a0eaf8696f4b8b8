"""Part planning: every plan is Telegram-legal and delivers exactly the bytes asked for."""

from __future__ import annotations

import itertools
import tracemalloc

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tgstream.streaming.plan import (
    PART_SIZE,
    Part,
    PartPlan,
    part_ends,
    plan_parts,
    validate_request,
)

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30
LEGAL_LIMITS = [4 * KIB << k for k in range(9)]  # 4 KiB .. 1 MiB


def byte_at(i: int) -> int:
    return i % 251


def telegram_reply(offset: int, limit: int, size: int) -> range:
    """Index range upload.getFile returns: short (possibly empty) at end of file."""
    return range(min(offset, size), min(offset + limit, size))


def check_plan(
    parts: list[Part],
    start: int,
    end: int,
    size: int,
    part_size: int = PART_SIZE,
    first_part_size: int | None = None,
) -> None:
    assert parts, "a non-empty range needs at least one request"
    delivered = start
    for i, part in enumerate(parts):
        assert validate_request(part.offset, part.limit) is None, part
        assert part.limit <= part_size
        assert part.take > 0, f"useless request {part}"
        assert part.skip >= 0
        assert part.skip + part.take <= part.limit
        if i > 0:
            prev = parts[i - 1]
            assert part.offset == prev.offset + prev.limit, "requests must be contiguous"
            assert part.skip == 0, "only the first request is trimmed at the front"
        if i < len(parts) - 1:
            assert part.skip + part.take == part.limit, "only the last request is trimmed"
            # A short reply means EOF, so every request but the last must be full.
            assert part.offset + part.limit <= size
        reply = telegram_reply(part.offset, part.limit, size)
        got = reply[part.skip : part.skip + part.take]
        assert len(got) == part.take, "the slice must lie inside the data Telegram returns"
        assert got.start == delivered
        delivered = got.stop
    assert delivered == end + 1
    first, last = parts[0], parts[-1]
    assert first.offset <= start < first.offset + first.limit
    assert last.offset <= end < last.offset + last.limit
    # Overshoot past the needed data stays under one request.
    assert last.offset + last.limit - (end + 1) < part_size

    aligned = end // part_size - start // part_size + 1
    if first_part_size is None or first_part_size >= part_size:
        # One request per part_size block touched: the minimum, since a legal
        # request no larger than part_size cannot span two such blocks.
        assert len(parts) == aligned
        assert all(p.limit == part_size for p in parts)
    else:
        assert first.limit == first_part_size
        ladder = (part_size // first_part_size).bit_length() - 1
        assert aligned <= len(parts) <= aligned + 2 * ladder
        # The ladder never more than doubles, so the bytes asked for beyond a short read
        # after a seek stay near what it needed.
        assert all(b.limit <= 2 * a.limit for a, b in itertools.pairwise(parts))


def check_bytes(parts: list[Part], start: int, end: int, size: int) -> None:
    """Materialise the bytes for small files and compare with the real slice."""
    file = bytes(byte_at(i) for i in range(size))
    out = b"".join(file[p.offset : p.offset + p.limit][p.skip : p.skip + p.take] for p in parts)
    assert out == file[start : end + 1]


# --- validate_request ----------------------------------------------------------


def rules_oracle(offset: int, limit: int, precise: bool) -> bool:
    """The rules of core.telegram.org/api/files, read independently."""
    if precise:
        ok = offset % 1024 == 0 and limit % 1024 == 0 and 0 < limit <= 1048576
    else:
        ok = offset % 4096 == 0 and limit % 4096 == 0 and limit > 0 and 1048576 % limit == 0
    in_one_chunk = offset // 1048576 == (offset + limit - 1) // 1048576
    return ok and offset >= 0 and limit <= 1048576 and in_one_chunk


@pytest.mark.parametrize(
    ("offset", "limit", "precise", "error"),
    [
        (0, MIB, False, None),
        (0, 4096, False, None),
        (4096, 4096, False, None),
        (MIB, MIB, False, None),
        (5 * GIB, MIB, False, None),
        (512 * KIB, 512 * KIB, False, None),
        (MIB - 4096, 4096, False, None),
        (0, 0, False, "LIMIT_INVALID"),
        (0, -4096, False, "LIMIT_INVALID"),
        (0, 2 * MIB, False, "LIMIT_INVALID"),
        (0, MIB + 4096, False, "LIMIT_INVALID"),
        (0, 1024, False, "LIMIT_INVALID"),
        (0, 12 * KIB, False, "LIMIT_INVALID"),  # 1 MiB % 12 KiB != 0
        (0, 3 * 4096, False, "LIMIT_INVALID"),
        (1024, 4096, False, "OFFSET_INVALID"),
        (1, 4096, False, "OFFSET_INVALID"),
        (-4096, 4096, False, "OFFSET_INVALID"),
        (4096, MIB, False, "LIMIT_INVALID"),  # crosses the 1 MiB boundary
        (MIB - 4096, 8192, False, "LIMIT_INVALID"),
        (768 * KIB, 512 * KIB, False, "LIMIT_INVALID"),
        # precise: 1 KiB granularity, any multiple of 1 KiB up to 1 MiB
        (1024, 1024, True, None),
        (3 * 1024, 5 * 1024, True, None),
        (0, MIB, True, None),
        (MIB - 1024, 1024, True, None),
        (0, 0, True, "LIMIT_INVALID"),
        (0, 1000, True, "LIMIT_INVALID"),
        (0, MIB + 1024, True, "LIMIT_INVALID"),
        (512, 1024, True, "OFFSET_INVALID"),
        (-1024, 1024, True, "OFFSET_INVALID"),
        (MIB - 1024, 2048, True, "LIMIT_INVALID"),
        (1024, MIB, True, "LIMIT_INVALID"),
        # a limit error wins over an offset error
        (1, 0, False, "LIMIT_INVALID"),
        (1, 1000, True, "LIMIT_INVALID"),
    ],
)
def test_validate_request_table(offset: int, limit: int, precise: bool, error: str | None) -> None:
    assert validate_request(offset, limit, precise) == error


_grid_offsets = st.one_of(
    st.integers(-4096, 6 * GIB),
    st.integers(-8, 6 * 1024).map(lambda k: k * 1024),
    st.builds(lambda c, d: c * MIB + d, st.integers(0, 5000), st.sampled_from([-4096, -1024, 0])),
)
_grid_limits = st.one_of(
    st.integers(-1, 2 * MIB),
    st.integers(0, 1100).map(lambda k: k * 1024),
    st.sampled_from([*LEGAL_LIMITS, 3 * 4096, MIB + 4096, 2 * MIB]),
)


@settings(max_examples=800)
@given(offset=_grid_offsets, limit=_grid_limits, precise=st.booleans())
def test_validate_request_matches_the_documented_rules(
    offset: int, limit: int, precise: bool
) -> None:
    error = validate_request(offset, limit, precise)
    assert (error is None) == rules_oracle(offset, limit, precise)
    assert error in (None, "LIMIT_INVALID", "OFFSET_INVALID")


def test_validate_request_exhaustive_over_small_grid() -> None:
    # 1 KiB steps over the start of the file and around the first chunk boundary.
    offsets = [*range(-1024, 256 * KIB, 1024), *range(MIB - 256 * KIB, MIB + 256 * KIB, 1024)]
    for precise in (False, True):
        for offset in offsets:
            for limit in [*range(0, MIB + 2048, 1024), 1, 4095]:
                legal = validate_request(offset, limit, precise) is None
                assert legal == rules_oracle(offset, limit, precise), (offset, limit, precise)


# --- plan_parts: examples ------------------------------------------------------


def test_whole_small_file_is_one_request() -> None:
    assert plan_parts(0, 99, 100) == [Part(offset=0, limit=MIB, skip=0, take=100)]


def test_one_byte() -> None:
    assert plan_parts(5, 5, 10) == [Part(0, MIB, 5, 1)]
    assert plan_parts(MIB, MIB, 3 * MIB) == [Part(MIB, MIB, 0, 1)]


def test_range_across_blocks() -> None:
    parts = plan_parts(MIB - 1, 2 * MIB, 5 * MIB)
    assert parts == [
        Part(0, MIB, MIB - 1, 1),
        Part(MIB, MIB, 0, MIB),
        Part(2 * MIB, MIB, 0, 1),
    ]


def test_small_part_size() -> None:
    parts = plan_parts(4095, 8192, 100_000, part_size=4096)
    assert parts == [
        Part(0, 4096, 4095, 1),
        Part(4096, 4096, 0, 4096),
        Part(8192, 4096, 0, 1),
    ]


def test_first_part_grows_back_onto_the_grid() -> None:
    start = 5 * MIB + 320 * KIB + 5
    parts = plan_parts(start, 8 * MIB - 1, 10 * MIB, first_part_size=128 * KIB)
    assert [(p.offset - 5 * MIB, p.limit) for p in parts] == [
        (256 * KIB, 128 * KIB),
        (384 * KIB, 128 * KIB),
        (512 * KIB, 256 * KIB),
        (768 * KIB, 256 * KIB),
        (MIB, 512 * KIB),
        (MIB + 512 * KIB, 512 * KIB),
        (2 * MIB, MIB),
    ]
    assert parts[0].skip == 64 * KIB + 5
    check_plan(parts, start, 8 * MIB - 1, 10 * MIB, first_part_size=128 * KIB)


def test_first_part_from_zero_doubles() -> None:
    parts = plan_parts(0, 3 * MIB - 1, 3 * MIB, first_part_size=64 * KIB)
    assert [p.limit // KIB for p in parts] == [64, 64, 128, 256, 512, 1024, 1024]


def test_first_part_ending_on_a_block_boundary_still_doubles() -> None:
    parts = plan_parts(MIB - 100, 3 * MIB, 4 * MIB, first_part_size=128 * KIB)
    assert [p.limit // KIB for p in parts] == [128, 256, 256, 512, 1024, 1024]


def test_first_part_small_range_is_one_small_request() -> None:
    assert plan_parts(0, 1, 10 * MIB, first_part_size=64 * KIB) == [Part(0, 64 * KIB, 0, 2)]


def test_first_part_not_smaller_than_part_size_changes_nothing() -> None:
    for first in (MIB, 2 * MIB // 2):
        assert plan_parts(7, 3 * MIB, 4 * MIB, first_part_size=first) == plan_parts(
            7, 3 * MIB, 4 * MIB
        )
    assert plan_parts(7, 9999, 20000, part_size=4096, first_part_size=8192) == plan_parts(
        7, 9999, 20000, part_size=4096
    )


def test_tail_keeps_a_full_request_but_takes_only_to_end() -> None:
    parts = plan_parts(0, MIB + 10, 50 * MIB)
    assert parts[-1] == Part(MIB, MIB, 0, 11)


def test_last_part_past_eof_is_fine() -> None:
    size = MIB + 100
    parts = plan_parts(0, size - 1, size)
    assert parts[-1] == Part(MIB, MIB, 0, 100)
    check_plan(parts, 0, size - 1, size)


@pytest.mark.parametrize(
    ("start", "end", "size"),
    [(0, 0, 0), (-1, 0, 10), (5, 4, 10), (0, 10, 10), (10, 10, 10)],
)
def test_plan_rejects_impossible_ranges(start: int, end: int, size: int) -> None:
    with pytest.raises(ValueError):
        plan_parts(start, end, size)


@pytest.mark.parametrize("bad", [0, 1024, 3 * 4096, 2 * MIB, 4095, -4096])
def test_plan_rejects_illegal_sizes(bad: int) -> None:
    with pytest.raises(ValueError, match="part_size"):
        plan_parts(0, 1, 10, part_size=bad)
    with pytest.raises(ValueError, match="first_part_size"):
        plan_parts(0, 1, 10, first_part_size=bad)


# --- plan_parts: properties ----------------------------------------------------


@st.composite
def _file_and_range(draw: st.DrawFn) -> tuple[int, int, int]:
    size: int = draw(
        st.one_of(
            st.integers(1, 5 * GIB),
            st.integers(1, 3 * MIB),
            st.builds(
                lambda k, d: max(1, k * 4096 + d),
                st.integers(0, 5 * 256 * 1024),
                st.sampled_from([-1, 0, 1]),
            ),
        )
    )

    def position(lo: int) -> int:
        kind = draw(st.sampled_from(["any", "near", "edge"]))
        if kind == "any":
            return draw(st.integers(lo, size - 1))
        if kind == "edge":
            return draw(st.sampled_from([lo, size - 1]))
        # Next to a multiple of 4 KiB / 64 KiB / 1 MiB, where off-by-ones live.
        unit = draw(st.sampled_from([4096, 64 * KIB, MIB]))
        k = draw(st.integers(lo // unit, (size - 1) // unit + 1))
        near = unit * k + draw(st.sampled_from([-1, 0, 1]))
        return min(max(near, lo), size - 1)

    start = position(0)
    end = position(start)
    return start, end, size


_part_sizes = st.sampled_from(LEGAL_LIMITS)
_first_sizes = st.one_of(st.none(), st.sampled_from(LEGAL_LIMITS))


@settings(max_examples=500)
@given(file_range=_file_and_range(), part_size=_part_sizes, first_part_size=_first_sizes)
@example(file_range=(0, 0, 1), part_size=MIB, first_part_size=None)
@example(file_range=(MIB - 1, MIB, 2 * MIB), part_size=MIB, first_part_size=4096)
@example(file_range=(5 * GIB - 1, 5 * GIB - 1, 5 * GIB), part_size=MIB, first_part_size=None)
@example(file_range=(0, 5 * GIB - 1, 5 * GIB), part_size=MIB, first_part_size=128 * KIB)
def test_plans_are_legal_and_exact(
    file_range: tuple[int, int, int], part_size: int, first_part_size: int | None
) -> None:
    start, end, size = file_range
    if (end - start) // part_size > 300:
        # Keep the per-example cost bounded; long ranges with big parts still run.
        end = start + 300 * part_size - 1
    parts = plan_parts(start, end, size, part_size=part_size, first_part_size=first_part_size)
    check_plan(parts, start, end, size, part_size, first_part_size)


@settings(max_examples=200)
@given(
    size=st.integers(1, 48 * KIB),
    data=st.data(),
    part_size=st.sampled_from(LEGAL_LIMITS[:4]),
    first_part_size=st.one_of(st.none(), st.sampled_from(LEGAL_LIMITS[:3])),
)
def test_plans_reproduce_the_bytes(
    size: int, data: st.DataObject, part_size: int, first_part_size: int | None
) -> None:
    start = data.draw(st.integers(0, size - 1))
    end = data.draw(st.integers(start, size - 1))
    parts = plan_parts(start, end, size, part_size=part_size, first_part_size=first_part_size)
    check_bytes(parts, start, end, size)


# --- plan_parts: exhaustive over boundary positions ---------------------------


def _boundary_positions(size: int, step: int) -> list[int]:
    """Every multiple of ``step`` and its neighbours, plus both ends of the file."""
    points = {0, 1, size - 2, size - 1}
    for k in range(0, size + step, step):
        points.update((k - 1, k, k + 1))
    return sorted(p for p in points if 0 <= p < size)


@pytest.mark.parametrize(
    ("size", "step", "part_size", "first_part_size"),
    [
        (16 * 4096 + 3, 1024, 4096, None),
        (16 * 4096 - 1, 1024, 4096, None),
        (8 * 16 * KIB + 5, 4096, 16 * KIB, 4096),
        (8 * 16 * KIB, 4096, 16 * KIB, 8192),
        (3 * MIB + 5, 64 * KIB, MIB, None),
        (3 * MIB + 5, 64 * KIB, MIB, 64 * KIB),
        (3 * MIB - 1, 64 * KIB, MIB, 128 * KIB),
        (3 * MIB, 128 * KIB, MIB, 4096),
    ],
)
def test_all_boundary_pairs(
    size: int, step: int, part_size: int, first_part_size: int | None
) -> None:
    points = _boundary_positions(size, step)
    for i, start in enumerate(points):
        for end in points[i:]:
            parts = plan_parts(
                start, end, size, part_size=part_size, first_part_size=first_part_size
            )
            check_plan(parts, start, end, size, part_size, first_part_size)


@pytest.mark.parametrize("first_part_size", [None, 4096, 8192])
def test_every_pair_of_a_tiny_file(first_part_size: int | None) -> None:
    # Truly every (start, end), bytes compared, with part_size as small as legal
    # ladders allow: 5 blocks of 16 KiB, positions at 1 KiB resolution plus
    # their neighbours.
    size = 5 * 16 * KIB - 7
    points = _boundary_positions(size, 1024)
    file = bytes(byte_at(i) for i in range(size))
    for i, start in enumerate(points):
        for end in points[i:]:
            parts = plan_parts(
                start, end, size, part_size=16 * KIB, first_part_size=first_part_size
            )
            out = b"".join(
                file[p.offset : p.offset + p.limit][p.skip : p.skip + p.take] for p in parts
            )
            assert out == file[start : end + 1], (start, end)


# --- the plan a stream holds: computed, not stored ------------------------------------


def eager_plan(start: int, end: int, part_size: int, first_part_size: int | None) -> list[Part]:
    """The plan as one loop that makes every part: the statement PartPlan computes."""
    limit = part_size if first_part_size is None else min(first_part_size, part_size)
    parts: list[Part] = []
    offset, pos = start - start % limit, start
    while pos <= end:
        take = min(end + 1, offset + limit) - pos
        parts.append(Part(offset=offset, limit=limit, skip=pos - offset, take=take))
        pos += take
        offset += limit
        limit = min(part_size, offset & -offset, 2 * limit)
    return parts


@settings(max_examples=600)
@given(
    start=st.integers(0, 40 * MIB),
    length=st.integers(1, 40 * MIB),
    part_size=st.sampled_from([64 * KIB, 256 * KIB, MIB]),
    first=st.sampled_from([None, 4 * KIB, 32 * KIB, 128 * KIB, MIB]),
)
@example(start=0, length=1, part_size=MIB, first=None)
@example(start=MIB, length=MIB, part_size=MIB, first=None)
@example(start=MIB - 1, length=2, part_size=MIB, first=128 * KIB)
def test_the_computed_plan_is_the_eager_one(
    start: int, length: int, part_size: int, first: int | None
) -> None:
    end = start + length - 1
    plan = PartPlan(start, end, end + 1, part_size=part_size, first_part_size=first)
    expected = eager_plan(start, end, part_size, first)
    assert len(plan) == len(expected)
    assert list(plan) == expected
    assert [plan[i - len(plan)] for i in range(len(plan))] == expected  # negative indices
    assert list(plan.ends) == list(itertools.accumulate(p.take for p in expected))
    assert list(part_ends(plan)) == list(plan.ends) == part_ends(expected)
    assert plan[1:3] == expected[1:3] and plan.ends[-2:] == list(plan.ends)[-2:]
    for outside in (len(plan), -len(plan) - 1):
        with pytest.raises(IndexError):
            plan[outside]
        with pytest.raises(IndexError):
            plan.ends[outside]


def test_a_plan_of_a_big_film_holds_only_its_ladder() -> None:
    """A viewer of 4 GiB from byte 12345 holds its ladder of small parts, not 4,096 parts
    (the eager plan and its list of ends took 734 KB here)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        plan = PartPlan(12345, 4 * GIB - 1, 4 * GIB, first_part_size=128 * KIB)
        ends = plan.ends
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(plan) == 4096 + 3 and ends[-1] == 4 * GIB - 12345
    assert held < 2048, held
