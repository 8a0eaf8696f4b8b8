"""The part pipeline: parts fetched ahead as the read-ahead policy allows (at most K), delivered
in order, memory bounded by K parts.

When the consumer stops (the viewer closed the connection, or the response failed), every
part still in flight is cancelled, so no upstream request of that stream outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from fractions import Fraction
from typing import Any

from .plan import Part, part_ends
from .readahead import GROWTH, ReadAhead

Fetch = Callable[[Part], Coroutine[Any, Any, bytes]]


class ShortPart(Exception):
    """Telegram returned fewer bytes than the plan needs: the file is shorter than its
    declared size.  A reply shorter than its limit marks the end of the file, so the file
    ends at `real_size`: exactly when the reply held some bytes or followed a full part
    (`exact`), at most there when an empty reply is all we know."""

    def __init__(self, part: Part, got: int, exact: bool) -> None:
        super().__init__(f"part at {part.offset} gave {got} bytes, {part.skip + part.take} needed")
        self.real_size = part.offset + got
        self.exact = exact or got > 0 or part.offset == 0


def checked_slice(part: Part, data: bytes, after_full_part: bool = True) -> memoryview:
    """The viewer's slice of a part's reply (a view: the part cache holds the bytes already,
    a copy would double them); ShortPart when the reply does not cover it."""
    piece = memoryview(data)[part.skip : part.skip + part.take]
    if len(piece) != part.take:
        raise ShortPart(part, len(data), exact=after_full_part)
    return piece


class LiveTasks:
    """How many prefetch tasks are still running, across every stream.

    A task that outlives its viewer keeps an upstream request going for nobody; counting
    tasks where they start and finish lets /status show such a leak from outside.
    """

    def __init__(self) -> None:
        self.count = 0
        # Streams whose viewer stopped reading and whose parts were let go.
        self.released = 0

    def track(self, task: asyncio.Task[bytes]) -> None:
        self.count += 1
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[bytes]) -> None:
        self.count -= 1


class Pipeline:
    """The parts of one stream, fetched ahead and handed out in order.

    How far ahead is the read-ahead policy's (readahead.py): it grows with what the viewer
    has taken, so a player that reads a little after a seek and leaves costs about what it
    read, and a viewer that keeps reading soon has `in_flight` parts on their way.  The
    viewer's progress comes from `slice` (a part asked for means those before it were
    taken) and, finer, from `advance` as each piece of a part goes out.  `release` drops
    everything fetched ahead (a viewer who stopped reading should not pin it); the next
    `slice` starts again from where the viewer is, through the part cache.  What is
    cancelled before a connection slot took it never reaches Telegram.
    """

    def __init__(
        self,
        parts: Sequence[Part],
        fetch: Fetch,
        in_flight: int,
        live: LiveTasks | None = None,
        in_hand: int = 0,
        growth: Fraction = GROWTH,
    ) -> None:
        """`in_hand` parts at the start are the caller's already (a primed first part);
        `growth` is the read-ahead policy's, bytes ahead per byte taken."""
        if in_flight < 1:
            raise ValueError("in_flight must be at least 1")
        self.parts = parts
        self.fetch = fetch
        self.live = live
        self.tasks: dict[int, asyncio.Task[bytes]] = {}
        self.ends = part_ends(parts)
        self.ahead = ReadAhead(self.ends, in_flight, in_hand=in_hand, growth=growth)

    def _start(self, indices: range) -> None:
        for index in indices:
            task = asyncio.create_task(self.fetch(self.parts[index]))
            if self.live is not None:
                self.live.track(task)
            self.tasks[index] = task

    def advance(self, position: int) -> None:
        """The viewer has taken the body's bytes up to `position`."""
        if position > self.ahead.position:
            self._start(self.ahead.advance(position))

    async def slice(self, index: int) -> memoryview:
        """Part `index`'s slice of the body; indices are asked for in order."""
        begin = self.ends[index] - self.parts[index].take
        self._start(self.ahead.advance(max(self.ahead.position, begin)))
        if index not in self.tasks:
            # A part said to be in hand that the caller asks for after all.
            self._start(range(index, index + 1))
        task = self.tasks[index]
        data = await task
        del self.tasks[index]
        return checked_slice(self.parts[index], data)

    def release(self) -> None:
        """Forget what was fetched ahead; what is still on its way is cancelled."""
        for task in self.tasks.values():
            task.cancel()
        self.tasks.clear()
        self.ahead.release()

    async def close(self) -> None:
        tasks = list(self.tasks.values())
        self.tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


async def ordered_parts(
    parts: Sequence[Part], fetch: Fetch, in_flight: int, live: LiveTasks | None = None
) -> AsyncIterator[memoryview]:
    """Each part's slice of the body in order, fetched ahead by a Pipeline."""
    pipeline = Pipeline(parts, fetch, in_flight, live)
    try:
        for index in range(len(parts)):
            yield await pipeline.slice(index)
    finally:
        await pipeline.close()
