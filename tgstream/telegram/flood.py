"""Flood policy: short FLOOD_WAITs are slept by the request that hit them; long ones bench
the bot for that method until the wait is over, so work moves to another bot."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class FloodPolicy:
    threshold: float
    # (bot_id, method) -> monotonic time the bot may call the method again.
    blocked: dict[tuple[int, str], float] = field(default_factory=dict)
    waits_seen: int = 0
    waits_slept: int = 0
    failovers: int = 0

    def record(self, bot_id: int, method: str, seconds: int) -> bool:
        """Note a FLOOD_WAIT; True when the caller should sleep it out itself."""
        self.waits_seen += 1
        if seconds <= self.threshold:
            self.waits_slept += 1
            return True
        self.blocked[(bot_id, method)] = time.monotonic() + seconds
        self.failovers += 1
        return False

    def blocked_for(self, bot_id: int, method: str) -> float:
        until = self.blocked.get((bot_id, method))
        if until is None:
            return 0.0
        left = until - time.monotonic()
        if left <= 0:
            del self.blocked[(bot_id, method)]
            return 0.0
        return left

    def snapshot(self) -> dict[str, object]:
        now = time.monotonic()
        return {
            "threshold_seconds": self.threshold,
            "waits_seen": self.waits_seen,
            "waits_slept": self.waits_slept,
            "failovers": self.failovers,
            "blocked": [
                {"bot_id": bot, "method": method, "seconds_left": round(until - now, 1)}
                for (bot, method), until in self.blocked.items()
                if until > now
            ],
        }
