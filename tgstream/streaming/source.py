"""Bytes of a file range, as an async iterator: plan -> cache -> pipeline -> downloader.

The first part is fetched before the caller commits to a status line, so anything that
can go wrong at the start (flood wait, file gone) still becomes a proper HTTP error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from .cache import PartCache
from .pipeline import LiveTasks, Pipeline, checked_slice
from .plan import Part, plan_parts

# (offset, limit, precise, urgent): urgent marks the part a viewer is waiting to start on.
FetchPart = Callable[[int, int, bool, bool], Awaitable[bytes]]


@dataclass(frozen=True)
class StreamSettings:
    in_flight: int
    first_part_size: int | None


# The largest piece handed to the HTTP server at once.  Each is a copy, so the part it came
# from is not pinned while the viewer is slow to take it.
SEND_CHUNK = 16 * 1024
# A viewer that has not taken a piece for this long has stopped reading (paused, or gone
# without closing): the parts held for it are released, and fetched again (from the part
# cache, normally) if it resumes.
RELEASE_AFTER = 2.0


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
        # The slice of the part being sent, by part index; dropped when the viewer stalls.
        self.held: tuple[int, memoryview] | None = None
        self.releases = 0

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
            self.held = (0, checked_slice(first, data, after_full_part=False))

    async def body(self) -> AsyncIterator[bytes]:
        """The range in pieces of at most SEND_CHUNK bytes."""
        loop = asyncio.get_running_loop()
        pipeline = Pipeline(self.parts, self._part, self.in_flight, self.live)
        try:
            for index, part in enumerate(self.parts):
                at = 0
                while at < part.take:
                    if self.held is None or self.held[0] != index:
                        self.held = (index, await pipeline.slice(index))
                    chunk = bytes(self.held[1][at : at + SEND_CHUNK])
                    at += len(chunk)
                    if at >= part.take:
                        self.held = None
                    stall = loop.call_later(RELEASE_AFTER, self._release, pipeline)
                    try:
                        yield chunk
                    finally:
                        stall.cancel()
        finally:
            await pipeline.close()

    def _release(self, pipeline: Pipeline) -> None:
        self.releases += 1
        if self.live is not None:
            self.live.released += 1
        self.held = None
        pipeline.release()


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
