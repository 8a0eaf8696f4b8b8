"""The part pipeline: K parts in flight, delivered in order, memory bounded by K parts.

When the consumer stops (the viewer closed the connection, or the response failed), every
part still in flight is cancelled, so no upstream request of that stream outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any

from .plan import Part

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


def checked_slice(part: Part, data: bytes, after_full_part: bool = True) -> bytes:
    """The viewer's slice of a part's reply; ShortPart when the reply does not cover it."""
    piece = data[part.skip : part.skip + part.take]
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

    def track(self, task: asyncio.Task[bytes]) -> None:
        self.count += 1
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[bytes]) -> None:
        self.count -= 1


START_WINDOW = 2


async def ordered_parts(
    parts: Sequence[Part], fetch: Fetch, in_flight: int, live: LiveTasks | None = None
) -> AsyncIterator[bytes]:
    """Yield each part's slice of the body in order, fetching up to `in_flight` ahead.

    The read-ahead starts at two parts and doubles whenever the viewer has to wait for the
    next part (Telegram is the bottleneck: more parallel requests help), but never runs more
    than two parts ahead per part already delivered.  A viewer slower than Telegram never
    waits, so its read-ahead stays small and fetched parts do not pile up in memory; a player
    that reads a little after a seek and leaves costs a few parts, not `in_flight` of them.
    """
    if in_flight < 1:
        raise ValueError("in_flight must be at least 1")
    pending: deque[asyncio.Task[bytes]] = deque()
    upcoming = iter(parts)
    planned: deque[Part] = deque()
    window = min(START_WINDOW, in_flight)
    delivered = 0

    def top_up() -> None:
        while len(pending) < window:
            part = next(upcoming, None)
            if part is None:
                return
            planned.append(part)
            task = asyncio.create_task(fetch(part))
            if live is not None:
                live.track(task)
            pending.append(task)

    try:
        top_up()
        while pending:
            if not pending[0].done():
                window = min(in_flight, window * 2, START_WINDOW + 2 * delivered)
                top_up()
            data = await pending[0]
            pending.popleft()
            part = planned.popleft()
            delivered += 1
            top_up()
            yield checked_slice(part, data)
    finally:
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(BaseException):
                await task
