"""Bytes of a file range, as an async iterator: plan -> cache -> pipeline -> downloader.

The first part is fetched before the caller commits to a status line, so anything that
can go wrong at the start (flood wait, file gone) still becomes a proper HTTP error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from .cache import PartCache
from .pipeline import LiveTasks, checked_slice, ordered_parts
from .plan import Part, plan_parts

# (offset, limit, precise, urgent): urgent marks the part a viewer is waiting to start on.
FetchPart = Callable[[int, int, bool, bool], Awaitable[bytes]]


@dataclass(frozen=True)
class StreamSettings:
    in_flight: int
    first_part_size: int | None


class RangeStream:
    def __init__(
        self,
        cache_key: object,
        fetch: FetchPart,
        cache: PartCache,
        start: int,
        end: int,
        size: int,
        settings: StreamSettings,
        live: LiveTasks | None = None,
    ) -> None:
        self.cache_key = cache_key
        self.fetch = fetch
        self.cache = cache
        self.parts = (
            plan_parts(start, end, size, first_part_size=settings.first_part_size)
            if end >= start
            else []
        )
        self.in_flight = settings.in_flight
        self.live = live
        self.first: bytes | None = None

    async def _part(self, part: Part, urgent: bool = False) -> bytes:
        key = (self.cache_key, part.offset, part.limit, part.precise)
        return await self.cache.get(
            key, lambda: self.fetch(part.offset, part.limit, part.precise, urgent)
        )

    async def prime(self) -> None:
        """Fetch the first part now (errors surface before any header is sent)."""
        if self.parts:
            first = self.parts[0]
            data = await self._part(first, urgent=True)
            # Nothing came before this part: an empty reply only bounds the end.
            self.first = checked_slice(first, data, after_full_part=False)

    async def body(self) -> AsyncIterator[bytes]:
        rest = self.parts
        if self.first is not None:
            yield self.first
            rest = self.parts[1:]
        async for piece in ordered_parts(rest, self._part, self.in_flight, self.live):
            yield piece


PROBE_BLOCK = 4096


async def find_end(fetch: FetchPart, upper: int) -> int:
    """Where a file really ends, known only to be at or before `upper` (an empty reply came
    there): a binary search over 4 KiB blocks, about log2(upper / 4 KiB) small requests,
    paid once per file, since the size found replaces the declared one."""
    low, high = 0, upper  # the end lies in [low, high]; low stays block-aligned
    while low < high:
        middle = (low + high) // 2
        middle -= middle % PROBE_BLOCK
        got = len(await fetch(middle, PROBE_BLOCK, False, True))
        if got == PROBE_BLOCK:
            low = middle + PROBE_BLOCK
        elif got > 0:
            return middle + got
        else:
            high = middle
    return low
