"""The read-ahead policy: what it starts follows what the viewer took, never more than the
allowance and the part cap, the part the viewer is on always, and each part once between
releases.  Checked exhaustively over small bodies against a direct statement of the rule."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest

from tgstream.streaming.readahead import DOWNLOAD_GROWTH, FLOOR, GROWTH, ReadAhead, allowance

KiB = 1 << 10
MiB = 1 << 20


def wanted(
    ends: list[int], position: int, max_parts: int, floor: int, growth: Fraction
) -> set[int]:
    """The parts that should have been started by a viewer at `position`, stated apart from
    the implementation: the part it is on (the first not wholly behind it), then each later
    part, in order, while it ends within the allowance and the cap."""
    current = next((i for i, end in enumerate(ends) if end > position), len(ends) - 1)
    reach = position + max(floor, int(position * growth))
    out = {current}
    for j in range(current + 1, min(len(ends), current + max_parts)):
        if ends[j] > reach:
            break
        out.add(j)
    return out


def test_allowance() -> None:
    assert allowance(0) == FLOOR
    assert allowance(2 * FLOOR) == FLOOR
    assert allowance(8 * FLOOR) == int(8 * FLOOR * GROWTH)
    assert allowance(10, floor=0, growth=Fraction(1, 3)) == 3
    with pytest.raises(ValueError):
        allowance(-1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ends": [1, 2], "max_parts": 0},
        {"ends": [2, 2], "max_parts": 1},
        {"ends": [0], "max_parts": 1},
        {"ends": [1], "max_parts": 1, "floor": -1},
        {"ends": [1], "max_parts": 1, "growth": Fraction(-1)},
        {"ends": [1], "max_parts": 1, "in_hand": 2},
    ],
)
def test_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ReadAhead(**kwargs)  # type: ignore[arg-type]


def test_positions_only_go_forward_and_stay_in_the_body() -> None:
    ahead = ReadAhead([4, 8], max_parts=2, floor=0)
    ahead.advance(5)
    with pytest.raises(ValueError):
        ahead.advance(4)
    with pytest.raises(ValueError):
        ahead.advance(9)


def test_a_seek_ladder_starts_what_the_floor_covers_then_grows_with_what_was_read() -> None:
    # 128K, 128K, 256K, 512K, then 1 MiB parts: the plan after a seek (skip of 64 KiB).
    takes = [64 * KiB, 128 * KiB, 256 * KiB, 512 * KiB] + [MiB] * 20
    ends = list(itertools.accumulate(takes))
    ahead = ReadAhead(ends, max_parts=16, in_hand=1)
    assert list(ahead.advance(0)) == [1]  # ends at 192 KiB, within the 256 KiB floor
    assert list(ahead.advance(192 * KiB)) == [2]  # ends at 448 KiB
    assert list(ahead.advance(448 * KiB)) == [3]  # the viewer is on it
    # 3 MiB taken: GROWTH of it ahead at most, and nothing started twice.
    started = list(ahead.advance(3 * MiB))
    assert started and started[0] == 4
    # The part the viewer is on, whatever it costs, and no more beyond it than allowed.
    assert ahead.current in started
    assert all(ends[j] <= 3 * MiB + int(3 * MiB * GROWTH) for j in started if j > ahead.current)
    assert list(ahead.advance(3 * MiB)) == []
    # A viewer that keeps reading ends with the cap of parts on their way.
    ahead.advance(ends[-5])
    assert ahead.next - ahead.current <= 16


def test_release_starts_the_current_part_again_and_keeps_the_growth() -> None:
    ends = [MiB * (i + 1) for i in range(40)]
    ahead = ReadAhead(ends, max_parts=8, growth=Fraction(1, 2))
    # 10 MiB taken: 5 MiB ahead, the part being taken (10) included.
    assert list(ahead.advance(10 * MiB + 1)) == list(range(0, 15))
    ahead.release()
    assert list(ahead.advance(10 * MiB + 2)) == list(range(10, 15))
    # The cap: at most 8 parts from the current one on.
    assert list(ahead.advance(30 * MiB)) == list(range(15, 38))


BODIES = [[1], [3], [1, 2], [2, 3, 7], [1, 2, 3, 4], [2, 4, 5, 9, 10]]


@pytest.mark.parametrize("ends", BODIES)
@pytest.mark.parametrize("max_parts", [1, 2, 8])
@pytest.mark.parametrize(
    ("floor", "growth"), [(0, Fraction(0)), (3, Fraction(1, 2)), (1, Fraction(2))]
)
def test_every_walk_starts_exactly_what_the_rule_says(
    ends: list[int], max_parts: int, floor: int, growth: Fraction
) -> None:
    """Every walk of a viewer through the body (three positions going forward, with a
    release or not after each step), from every number of parts in hand."""
    positions = range(ends[-1] + 1)
    for in_hand in range(len(ends) + 1):
        for walk in itertools.combinations_with_replacement(positions, 3):
            for releases in itertools.product([False, True], repeat=len(walk)):
                ahead = ReadAhead(ends, max_parts, floor, growth, in_hand=in_hand)
                # What the caller holds or has taken: started since the last release, or in
                # hand, or behind the viewer.
                held = set(range(in_hand))
                for position, release in zip(walk, releases, strict=True):
                    started = ahead.advance(position)
                    assert not held & set(started), ("a part started twice", walk, releases)
                    held |= set(started)
                    should = wanted(ends, position, max_parts, floor, growth)
                    assert should <= held, (walk, releases, in_hand)
                    # Nothing beyond the rule's parts, but what the caller had in hand.
                    ahead_of_viewer = {j for j in held if j >= ahead.current}
                    assert ahead_of_viewer <= should | set(range(in_hand)), (walk, releases)
                    if release:
                        ahead.release()
                        held = {j for j in held if j < ahead.current}


def test_a_download_grows_to_its_full_read_ahead_after_a_few_mib() -> None:
    # Still nothing ahead beyond FLOOR before a byte is taken (a stalled download holds
    # little), then four bytes ahead per byte taken.
    assert allowance(0, growth=DOWNLOAD_GROWTH) == FLOOR
    assert allowance(4 * MiB, growth=DOWNLOAD_GROWTH) == 16 * MiB
    ends = [(i + 1) * MiB for i in range(64)]
    ahead = ReadAhead(ends, 16, growth=DOWNLOAD_GROWTH)
    ahead.advance(0)
    started = ahead.advance(4 * MiB)
    assert started.stop - 1 >= 4 + 15 and ahead.next == 4 + 16
