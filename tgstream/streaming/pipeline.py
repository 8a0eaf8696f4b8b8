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
    """Telegram returned fewer bytes than the plan needs: the file is not what we think."""


async def ordered_parts(
    parts: Sequence[Part], fetch: Fetch, in_flight: int
) -> AsyncIterator[bytes]:
    """Yield each part's slice of the body in order, fetching up to `in_flight` ahead."""
    if in_flight < 1:
        raise ValueError("in_flight must be at least 1")
    pending: deque[asyncio.Task[bytes]] = deque()
    upcoming = iter(parts)
    planned: deque[Part] = deque()

    def top_up() -> None:
        while len(pending) < in_flight:
            part = next(upcoming, None)
            if part is None:
                return
            planned.append(part)
            pending.append(asyncio.create_task(fetch(part)))

    try:
        top_up()
        while pending:
            data = await pending[0]
            pending.popleft()
            part = planned.popleft()
            top_up()
            piece = data[part.skip : part.skip + part.take]
            if len(piece) != part.take:
                raise ShortPart(
                    f"part at {part.offset} gave {len(data)} bytes, {part.skip + part.take} needed"
                )
            yield piece
    finally:
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(BaseException):
                await task
