"""Flood deadlines: a bot told to wait on a method is benched for that method until the
wait is over, so work moves to another bot or the caller sleeps it out.

Deadlines are persisted (wall-clock) in the store, so a restart in the middle of a long
wait does not call the method again before it is over: that would only lengthen it.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol


class FloodStore(Protocol):
    def flood_deadlines(self) -> list[tuple[int, str, float]]: ...

    def save_flood_deadline(self, bot_id: int, method: str, until: float) -> None: ...


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

    def __post_init__(self) -> None:
        if self.store is None:
            return
        now_wall, now = time.time(), time.monotonic()
        for bot_id, method, until in self.store.flood_deadlines():
            if until > now_wall:
                self.blocked[(bot_id, method)] = now + (until - now_wall)

    def bench(self, bot_id: int, method: str, seconds: float, failover: bool = False) -> None:
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
                self.store.save_flood_deadline(bot_id, method, time.time() + seconds)

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
