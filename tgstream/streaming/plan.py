"""Turning a byte range into Telegram-legal ``upload.getFile`` requests.

``validate_request`` is the single statement of Telegram's offset/limit rules
(core.telegram.org/api/files).  The planner's tests hold every plan to it; the
DC emulator enforces the same rules on its own (it never imports product code),
and the end-to-end tests hold the two to each other.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, TypeVar, overload

__all__ = [
    "PART_SIZE",
    "Part",
    "PartEnds",
    "PartPlan",
    "part_ends",
    "plan_parts",
    "validate_request",
]

T = TypeVar("T")

PART_SIZE: Final = 1 << 20
"""Largest ``limit`` Telegram serves, and the chunk no request may straddle."""

_ALIGN: Final = 4096
_PRECISE_ALIGN: Final = 1024


@dataclass(frozen=True, slots=True)
class Part:
    """One upstream request and the slice of its reply the viewer gets.

    Request ``[offset, offset + limit)`` and deliver ``data[skip : skip + take]``.
    Only the first part of a plan has ``skip > 0`` and only the last may have
    ``skip + take < limit``; every part in between is delivered whole.
    """

    offset: int
    limit: int
    skip: int
    take: int


def validate_request(offset: int, limit: int, precise: bool = False) -> str | None:
    """``None`` if ``upload.getFile(offset, limit, precise)`` is legal, else Telegram's error.

    Rules:

    * always: ``0 < limit <= 1 MiB`` and the request stays inside one 1 MiB chunk,
      ``offset // 2**20 == (offset + limit - 1) // 2**20``;
    * without ``precise``: ``offset`` and ``limit`` multiples of 4096 and
      ``limit`` a divisor of 1 MiB (so a power of two from 4 KiB to 1 MiB);
    * with ``precise``: ``offset`` and ``limit`` multiples of 1024.

    A bad limit is ``LIMIT_INVALID`` and a bad (negative or misaligned) offset
    ``OFFSET_INVALID``.  Crossing a 1 MiB boundary is reported as
    ``LIMIT_INVALID``: each value may be fine on its own, and it is the limit
    that reaches too far from that offset.  Limit checks come first, so a
    request wrong in both ways reports the limit.
    """
    if limit <= 0 or limit > PART_SIZE:
        return "LIMIT_INVALID"
    align = _PRECISE_ALIGN if precise else _ALIGN
    if limit % align or (not precise and PART_SIZE % limit):
        return "LIMIT_INVALID"
    if offset < 0 or offset % align:
        return "OFFSET_INVALID"
    if offset // PART_SIZE != (offset + limit - 1) // PART_SIZE:
        return "LIMIT_INVALID"
    return None


def _check_limit(name: str, value: int) -> None:
    if validate_request(0, value) is not None:
        raise ValueError(
            f"{name} must be a power of two between {_ALIGN} and {PART_SIZE}, got {value}"
        )


def plan_parts(
    start: int,
    end: int,
    size: int,
    *,
    part_size: int = PART_SIZE,
    first_part_size: int | None = None,
) -> list[Part]:
    """Plan the requests that deliver bytes ``start..end`` (inclusive) of a ``size``-byte file.

    Every request is non-precise with a power-of-two ``limit`` at an offset that
    is a multiple of that limit; such a request can never straddle a 1 MiB
    chunk, so ``precise`` is never needed.

    * Without ``first_part_size`` the requests are the ``part_size``-aligned
      blocks that overlap the range: the fewest possible, since a legal request
      no larger than ``part_size`` always lies inside one such block.  Keeping
      every request on the block grid also means the same ``(offset, limit)``
      recurs across overlapping viewer ranges, which is what a part cache needs.
    * ``first_part_size`` (smaller than ``part_size``) shrinks only the first
      request, since the first reply gates time-to-first-byte.  Later requests
      then grow by at most doubling (and no larger than their offset's alignment
      allows) until they are back on the ``part_size`` grid, e.g. 128K, 128K, 256K,
      512K, 1M, ...; that costs at most ``2 * log2(part_size / first_part_size)``
      extra requests.
      A ``first_part_size >= part_size`` changes nothing.
    * The last request keeps its full limit even when the range ends early in
      it: it overshoots by less than one request, stays cache-aligned, and a
      request past end-of-file is fine because Telegram answers it short.  Its
      ``take`` stops at ``end``.

    Raises ``ValueError`` unless ``0 <= start <= end < size`` and both sizes are
    legal non-precise limits (powers of two from 4 KiB to 1 MiB).  An empty
    file has no byte range, so it has no plan either.
    """
    return list(PartPlan(start, end, size, part_size=part_size, first_part_size=first_part_size))


class _Computed(Sequence[T]):
    """A sequence whose items are computed from their position: indices (negative too) and
    slices handled once, for the plan and its ends."""

    __slots__ = ()

    def _item(self, position: int) -> T:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...

    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        if isinstance(index, slice):
            return [self._item(i) for i in range(*index.indices(len(self)))]
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError(index)
        return self._item(position)


class PartPlan(_Computed[Part]):
    """`plan_parts`' parts, each made when asked for.

    A plan is a short ladder of small parts (the first one's skip, then sizes doubling up to
    `part_size`) followed by plain `part_size` blocks, which are arithmetic.  Only the ladder
    is kept: a stream of a 4 GiB film holds a few numbers, not 4,096 parts and their running
    ends (730 KB, held for as long as its viewer stays, paused or not).
    """

    __slots__ = ("_end", "_head", "_head_ends", "_part_size", "_tail_count", "_tail_offset")

    def __init__(
        self,
        start: int,
        end: int,
        size: int,
        *,
        part_size: int = PART_SIZE,
        first_part_size: int | None = None,
    ) -> None:
        if not 0 <= start <= end < size:
            raise ValueError(f"need 0 <= start <= end < size, got {start}, {end}, {size}")
        _check_limit("part_size", part_size)
        limit = part_size
        if first_part_size is not None:
            _check_limit("first_part_size", first_part_size)
            limit = min(first_part_size, part_size)

        head: list[Part] = []
        offset = start - start % limit
        pos = start
        # Once a part would be a whole block at a block boundary, every later one is too.
        while pos <= end and not (limit == part_size and pos == offset):
            skip = pos - offset
            take = min(end + 1, offset + limit) - pos
            head.append(Part(offset=offset, limit=limit, skip=skip, take=take))
            pos += take
            offset += limit
            # The lowest set bit of the offset is the largest power of two it is aligned
            # to, hence the largest legal limit there; doubling at most keeps the ladder
            # after a seek gradual, so a viewer who reads a little and leaves does not
            # leave a whole 1 MiB part behind when the first part ends on a 1 MiB boundary.
            limit = min(part_size, offset & -offset, 2 * limit)
        self._head = tuple(head)
        self._head_ends = tuple(itertools.accumulate(part.take for part in head))
        self._part_size = part_size
        self._end = end
        self._tail_offset = offset
        self._tail_count = (end - pos) // part_size + 1 if pos <= end else 0

    def __len__(self) -> int:
        return len(self._head) + self._tail_count

    def _item(self, position: int) -> Part:
        if position < len(self._head):
            return self._head[position]
        offset = self._tail_offset + (position - len(self._head)) * self._part_size
        take = min(self._end + 1, offset + self._part_size) - offset
        return Part(offset=offset, limit=self._part_size, skip=0, take=take)

    @property
    def ends(self) -> PartEnds:
        return PartEnds(self)

    def end_of(self, position: int) -> int:
        """Where part `position`'s bytes end in the body: the running total of the takes."""
        if position < len(self._head_ends):
            return self._head_ends[position]
        done = self._head_ends[-1] if self._head_ends else 0
        blocks = position - len(self._head_ends) + 1
        return done + min(blocks * self._part_size, self._end + 1 - self._tail_offset)


class PartEnds(_Computed[int]):
    """A plan's running ends (where each part's bytes end in the body), made when asked
    for; increasing by construction."""

    __slots__ = ("_plan",)

    def __init__(self, plan: PartPlan) -> None:
        self._plan = plan

    def __len__(self) -> int:
        return len(self._plan)

    def _item(self, position: int) -> int:
        return self._plan.end_of(position)


def part_ends(parts: Sequence[Part]) -> Sequence[int]:
    """Where each part's bytes end in the body; computed, not stored, for a PartPlan."""
    if isinstance(parts, PartPlan):
        return parts.ends
    return list(itertools.accumulate(part.take for part in parts))
