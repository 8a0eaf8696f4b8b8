"""Kurigram's client, telling its shared storage which updates were handled.

Kurigram gives its handlers no acknowledgement: a worker takes an update from the
dispatcher's queue, runs the handlers, and comes back for the next one.  Coming back is the
acknowledgement here: the queue numbers every update as it is queued and marks it done when
the worker that took it asks for another.  The client brackets each batch of incoming
updates, so the storage knows which state belongs to which queued updates
(update_checkpoints.py).  Bots on their own session file keep Kurigram's behaviour.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from pyrogram import Client

from .shared_session import SharedStorage


class HandledQueue(asyncio.Queue[Any]):
    """The dispatcher's queue, numbering updates and marking them done when their worker
    comes back.  None (Kurigram's signal for a worker to stop) has no number."""

    def __init__(self, ledger: SharedStorage) -> None:
        super().__init__()
        self.ledger = ledger
        self.positions: deque[int | None] = deque()
        self.holding: dict[asyncio.Task[Any] | None, int] = {}

    def _put(self, item: Any) -> None:
        self.positions.append(None if item is None else self.ledger.update_queued())
        super()._put(item)

    def _get(self) -> Any:
        position = self.positions.popleft()
        taker = asyncio.current_task()
        self._release(taker)
        if position is not None:
            self.holding[taker] = position
        return super()._get()

    async def get(self) -> Any:
        # Before waiting: a worker idle on an empty queue has finished its last update.
        self._release(asyncio.current_task())
        return await super().get()

    def _release(self, taker: asyncio.Task[Any] | None) -> None:
        position = self.holding.pop(taker, None)
        if position is not None:
            self.ledger.update_handled(position)

    def renumber(self) -> None:
        """After the ledger forgot every position: what is still queued is numbered anew,
        and what workers hold now will not be counted."""
        self.holding.clear()
        self.positions = deque(
            None if position is None else self.ledger.update_queued() for position in self.positions
        )


class UpdatesClient(Client):  # type: ignore[misc]
    """Brackets Kurigram's two sources of queued updates (updates pushed by Telegram,
    and gap recovery's getDifference) when its storage keeps the state in checkpoints."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set while connected to the home DC (storage open, session up): sessions to other
        # DCs can be opened from then on, before the sign-in's last calls are answered.
        self.connected = asyncio.Event()
        storage = self.storage
        if isinstance(storage, SharedStorage) and storage.handles_updates:
            storage.queue = self.dispatcher.updates_queue = HandledQueue(storage)

    async def connect(self) -> bool:
        authorized = bool(await super().connect())
        self.connected.set()
        return authorized

    async def disconnect(self) -> Any:
        self.connected.clear()
        return await super().disconnect()

    async def handle_updates(self, updates: Any) -> None:
        if not isinstance(self.storage, SharedStorage):
            await super().handle_updates(updates)
            return
        async with self.storage.batch():
            await super().handle_updates(updates)

    async def recover_gaps(self, ids: Any = None) -> tuple[int, int]:
        if not isinstance(self.storage, SharedStorage):
            found: tuple[int, int] = await super().recover_gaps(ids)
            return found
        async with self.storage.batch():
            found = await super().recover_gaps(ids)
            return found
