"""How far ahead of a viewer a stream fetches: a pure state machine (no I/O, no clock).

Read-ahead grows from what the viewer has consumed, not from how long it waited: a viewer
that has taken C bytes of this range may have up to GROWTH x C bytes (at least FLOOR)
fetched beyond where it is, in at most `max_parts` parts.  Bytes fetched ahead are what a
seek throws away, so a player that reads a few MiB and seeks again costs Telegram at most
about (1 + GROWTH) times what it read; a viewer that keeps reading sees its read-ahead
grow in proportion to what it read, exponentially in time, until `max_parts` keeps the
account's connections busy.  Waiting alone proves nothing about whether the viewer will
stay, so it grows nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from fractions import Fraction
from typing import Final

from .plan import PartEnds

__all__ = ["DOWNLOAD_GROWTH", "FLOOR", "GROWTH", "ReadAhead", "allowance"]

FLOOR: Final = 256 * 1024
"""Bytes that may be ahead before the viewer has taken any: the rest of the ladder of small
parts after a seek (128K, 128K, 256K), so a viewer never waits a round trip per part at the
start, and a 256 KiB read costs its ladder, not a megabyte part beyond it."""
GROWTH: Final = Fraction(1, 4)
"""Bytes ahead per byte consumed: what a seek wastes is at most this share of what was read,
plus the parts' rounding and what socket buffers took that the player never read.  Measured
on Chromium's reads after each jump (tests/e2e/test_seek_upstream.py): 1.34x upstream/served
at 1/4, 1.48x at 3/8; the price is a slower climb to the full read-ahead for a viewer that
keeps reading (it takes about 4 round trips' worth of bytes to double)."""

DOWNLOAD_GROWTH: Final = Fraction(4)
"""The same rule for a request of the whole file without a Range: a download (curl, wget, a
browser's Save), which reads to the end; a player always sends a Range, to seek.  Four
bytes ahead per byte taken: the full read-ahead after the first few MiB, where a quarter
would hold a 64 MiB download to a fifth of the account's speed.  A download that stalls
at the start has still taken nothing, so it still holds only FLOOR ahead."""


def allowance(consumed: int, floor: int = FLOOR, growth: Fraction = GROWTH) -> int:
    """Bytes that may be fetched beyond the viewer's position once it has consumed
    `consumed` bytes of its range."""
    if consumed < 0:
        raise ValueError(f"consumed must not be negative, got {consumed}")
    # Integer arithmetic: this runs for every piece a stream sends, and a Fraction product
    # costs more than the rest of the step (floor division is int() of the product here).
    return max(floor, consumed * growth.numerator // growth.denominator)


class ReadAhead:
    """Which parts of one range to start, given where its viewer is.

    `ends[i]` is where part i's bytes end in the body (a running total of the parts'
    takes).  State: the viewer's position in the body, the part it is on (`current`), and
    the first part not started yet (`next`).  Every transition returns the parts to start
    now, as a range of indices; each part is started once between releases.  The part the
    viewer is on is always started (it waits on it), unless it is among the first `in_hand`
    parts, which the caller fetched itself; a later part j starts when it ends
    within the allowance of the viewer's position and fewer than `max_parts` parts from
    the current one on are started.
    """

    def __init__(
        self,
        ends: Sequence[int],
        max_parts: int,
        floor: int = FLOOR,
        growth: Fraction = GROWTH,
        in_hand: int = 0,
    ) -> None:
        if max_parts < 1:
            raise ValueError("max_parts must be at least 1")
        if floor < 0 or growth < 0:
            raise ValueError("floor and growth must not be negative")
        if not 0 <= in_hand <= len(ends):
            raise ValueError(f"in_hand must be between 0 and {len(ends)}, got {in_hand}")
        # A plan's own ends increase by construction, and are computed rather than stored:
        # walking them all here would cost each request time in proportion to the file.
        if not isinstance(ends, PartEnds) and any(
            b <= a for a, b in itertools.pairwise([0, *ends])
        ):
            raise ValueError("part ends must increase")
        self.ends = ends
        self.max_parts = max_parts
        self.floor = floor
        self.growth = growth
        self.position = 0
        self.current = 0
        self.next = in_hand

    def _start(self) -> range:
        first = self.next
        limit = min(len(self.ends), self.current + self.max_parts)
        reach = self.position + allowance(self.position, self.floor, self.growth)
        stop = max(self.next, min(self.current + 1, len(self.ends)))
        while stop < limit and self.ends[stop] <= reach:
            stop += 1
        self.next = stop
        return range(first, stop)

    def advance(self, position: int) -> range:
        """The viewer has taken the body's bytes up to `position` (never backwards)."""
        if position < self.position:
            raise ValueError(f"the viewer cannot go back from {self.position} to {position}")
        if self.ends and position > self.ends[-1]:
            raise ValueError(f"position {position} is past the body's end {self.ends[-1]}")
        self.position = position
        while self.current < len(self.ends) - 1 and self.ends[self.current] <= position:
            self.current += 1
        return self._start()

    def release(self) -> None:
        """Everything started is dropped (the viewer stalled): the current part and those
        after it start again when the viewer is back (`advance`).  What it consumed still
        counts: it was read."""
        self.next = self.current
