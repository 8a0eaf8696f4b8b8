"""Flood deadlines: a bot told to wait on a method is benched for that method until the
wait is over, so work moves to another bot or the caller sleeps it out.

Deadlines are persisted (wall-clock) in the store, so a restart in the middle of a long
wait does not call the method again before it is over: that would only lengthen it.  With
a shared store, another replica may have been told to wait: before every call the deadline
is read again (one Redis round trip, well under a part's time), so no replica calls a method
the account must not call yet.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from ..store import SharedStateDown


class FloodStore(Protocol):
    shared: bool

    async def flood_deadlines(self) -> list[tuple[int, str, float]]: ...

    async def flood_deadline(self, bot_id: int, method: str) -> float | None: ...

    async def save_flood_deadline(self, bot_id: int, method: str, until: float) -> None: ...


@dataclass
class FloodPolicy:
    threshold: float
    store: FloodStore | None = None
    # (bot_id, method) -> monotonic time the bot may call the method again.
    blocked: dict[tuple[int, str], float] = field(default_factory=dict)
    # FLOOD_WAIT answers by method; of them, those slept out and those failed over.
    waits: Counter[str] = field(default_factory=Counter)
    waits_slept: int = 0
    failovers: int = 0

    async def load(self) -> None:
        """The deadlines still running when the process (re)starts."""
        if self.store is None:
            return
        for bot_id, method, until in await self.store.flood_deadlines():
            self._adopt(bot_id, method, until)

    def _adopt(self, bot_id: int, method: str, until_wall: float) -> None:
        now_wall, now = time.time(), time.monotonic()
        if until_wall <= now_wall:
            return
        until = now + (until_wall - now_wall)
        key = (bot_id, method)
        if until > self.blocked.get(key, 0.0):
            self.blocked[key] = until

    async def refresh(self, *bot_ids: int, method: str) -> None:
        """Learn the deadlines other replicas were given (a shared store only; without one,
        what this process knows is all there is).  If the store cannot answer, what this
        process knows is what it goes by."""
        store = self.store
        if store is None or not store.shared:
            return
        try:
            found = await asyncio.gather(*(store.flood_deadline(b, method) for b in bot_ids))
        except SharedStateDown:
            return
        for bot_id, until in zip(bot_ids, found, strict=True):
            if until is not None:
                self._adopt(bot_id, method, until)

    async def bench(self, bot_id: int, method: str, seconds: float, failover: bool = False) -> None:
        """Note a FLOOD_WAIT of `seconds` on this bot and method."""
        self.waits[method] += 1
        if failover:
            self.failovers += 1
        elif seconds <= self.threshold:
            self.waits_slept += 1
        until = time.monotonic() + seconds
        key = (bot_id, method)
        if until > self.blocked.get(key, 0.0):
            self.blocked[key] = until
            if self.store is not None:
                await self.store.save_flood_deadline(bot_id, method, time.time() + seconds)

    def blocked_for(self, bot_id: int, method: str) -> float:
        until = self.blocked.get((bot_id, method))
        if until is None:
            return 0.0
        left = until - time.monotonic()
        if left <= 0:
            del self.blocked[(bot_id, method)]
            return 0.0
        return left

    def benched(self) -> list[tuple[int, str, float]]:
        """(bot_id, method, seconds left) of every bench still running."""
        now = time.monotonic()
        return [
            (bot, method, until - now)
            for (bot, method), until in self.blocked.items()
            if until > now
        ]
