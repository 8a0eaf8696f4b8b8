"""The first-byte deadline: a request gets its status line within FIRST_BYTE_DEADLINE,
whatever Telegram does, counted from when it came in across every step before that line
(resolving the file, fetching its first part)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator


class DeadlineMissed(Exception):
    """Telegram did not answer in time for the first byte (503 with Retry-After)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"Telegram did not answer within {seconds:g} s, retry later")
        self.seconds = seconds


class FirstByteClock:
    """Started when a request comes in; `guard` bounds each step before its first byte."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self._due = asyncio.get_running_loop().time() + seconds

    @contextlib.asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout_at(self._due):
                yield
        except TimeoutError:
            raise DeadlineMissed(self.seconds) from None
