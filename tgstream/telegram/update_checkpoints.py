"""When the bot's update state may be stored: only once every update it covers was handled.

Kurigram records the new pts of an update as the update arrives, before a handler has seen
it.  Stored at once, a leader killed in between would leave the next one a state past a
message nobody answered, and its getDifference would never return that message.  So the
state Kurigram keeps in memory is stored in checkpoints instead:

- every update queued for the handlers gets a position (1, 2, …) when it is queued, and is
  done when the worker that took it asks for the next one;
- a checkpoint is a copy of the state taken when no batch of incoming updates (one call of
  Kurigram's handle_updates or recover_gaps) is half-way, with the count of updates queued
  by then: every pts it holds belongs to an update at or before that position;
- a checkpoint is ready once every position up to its own is done.

An update whose handler never finished (the process killed, the lease lost) is fetched again
by the next leader, and the reply marks keep it from being answered twice.

Pure: no I/O, no event loop; the queue and the storage drive it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

S = TypeVar("S")


@dataclass
class Checkpoints(Generic[S]):
    queued: int = 0  # positions handed out so far
    handled: int = 0  # every position up to this one is done
    open_batches: int = 0
    # Done, but behind one that is not yet: they count once the gap closes.
    _done_ahead: set[int] = field(default_factory=set)
    _waiting: deque[tuple[int, S]] = field(default_factory=deque)

    def queue(self) -> int:
        """A position for an update queued for the handlers."""
        self.queued += 1
        return self.queued

    def done(self, position: int) -> None:
        if position <= self.handled or position > self.queued:
            return  # from before a reset, or already counted
        self._done_ahead.add(position)
        while self.handled + 1 in self._done_ahead:
            self.handled += 1
            self._done_ahead.remove(self.handled)

    def open(self) -> None:
        """A batch of incoming updates starts: the state may hold pts not queued yet."""
        self.open_batches += 1

    def close(self, state: S) -> None:
        """A batch ended, `state` the state as it is now: a checkpoint when no other batch is
        half-way (else the one that ends last takes it, covering both)."""
        self.open_batches = max(0, self.open_batches - 1)
        if self.open_batches == 0:
            self._waiting.append((self.queued, state))

    def ready(self) -> S | None:
        """The newest checkpoint all of whose updates were handled (older ones dropped), or
        None: nothing new may be stored yet."""
        found: S | None = None
        while self._waiting and self._waiting[0][0] <= self.handled:
            found = self._waiting.popleft()[1]
        return found

    @property
    def pending(self) -> int:
        """Checkpoints waiting for updates still being handled."""
        return len(self._waiting)

    def reset(self) -> None:
        """Forget every position and checkpoint: the state was read again from the store
        (a take-over), or this replica stopped handling updates."""
        self.handled = self.queued
        self.open_batches = 0
        self._done_ahead.clear()
        self._waiting.clear()
