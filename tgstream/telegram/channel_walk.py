"""Which message ids a backfill of the bin channel asks for next, and when it is done; pure.

A bot cannot list a channel (messages.getHistory is not for bots), but it may fetch any
ids with channels.getMessages: the walk asks for ids 1, 2, 3... in batches.  Channel
message ids are handed out in increasing order, so the channel's messages all lie at or
below its newest id; deleted ones leave holes (messageEmpty).  The walk ends once `gap`
ids in a row came back empty past both the newest message it saw and the newest the state
already knows of: a hole longer than `gap` past every known message is the only thing that
ends it early, and a larger `gap` (or a later run, which knows the newer ids) covers that.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["BATCH", "GAP", "ChannelWalk"]

# Ids per channels.getMessages call: Telegram answers up to 100 at once.
BATCH = 100
# Empty ids in a row past the last known message that end the walk.
GAP = 1000


@dataclass
class ChannelWalk:
    known_last: int = 0  # the newest message id the state knows of
    gap: int = GAP
    batch_size: int = BATCH
    next_id: int = 1
    last_seen: int = 0  # the newest id that held a message (any message)

    def __post_init__(self) -> None:
        if self.gap < 1 or not 1 <= self.batch_size <= BATCH:
            raise ValueError("gap must be >= 1 and batch_size 1..100")

    @property
    def end(self) -> int:
        """The last id the walk will ask for, as things stand."""
        return max(self.known_last, self.last_seen) + self.gap

    @property
    def done(self) -> bool:
        return self.next_id > self.end

    def batch(self) -> list[int]:
        """The next ids to ask for (empty when done)."""
        last = min(self.next_id + self.batch_size - 1, self.end)
        return list(range(self.next_id, last + 1))

    def saw(self, asked: list[int], present: Iterable[int]) -> None:
        """The answer to `asked`: the ids that held a message."""
        if not asked:
            return
        self.last_seen = max([self.last_seen, *present])
        self.next_id = max(self.next_id, asked[-1] + 1)
