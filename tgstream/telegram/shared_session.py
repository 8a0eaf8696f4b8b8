"""Kurigram's session storage on the shared store, for replicas (`STATE_URL=redis://…`).

A bot's own session (its home DC, the auth key authorized at sign-in, its user id, the API
id) and its update state are read from the shared store when the client opens, so a replica
started beside others finds the bot signed in: no handshake, no sign-in.  They are written
back there as Kurigram changes them; a write the store cannot take now is kept by the store
and written when it can.  Peers and usernames stay in this process's memory (an in-memory
SQLite, as Kurigram keeps them for a session string): each replica learns them from the
answers it gets, and tgstream names the bin channel without them.

The update state is stored only once the updates it covers were handled (update_checkpoints.py
says when): Kurigram's own copy, in memory, runs ahead of it.  A bot that handles no updates
stores none.

The session id Kurigram puts on each connection is not part of this: it is made afresh for
every connection, so replicas sharing a key never share a session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any, Protocol

from pyrogram.storage import SQLiteStorage
from pyrogram.storage.storage import UpdateState

from ..store import BotSessions, SessionFields
from .update_checkpoints import Checkpoints

log = logging.getLogger("tgstream.telegram.shared_session")

_SESSION_TABLE = "sessions"

States = dict[int, UpdateState]


class Renumbered(Protocol):
    def renumber(self) -> None: ...


class SharedStorage(SQLiteStorage):  # type: ignore[misc]
    def __init__(
        self, name: str, bot_id: int, sessions: BotSessions, handles_updates: bool = True
    ) -> None:
        super().__init__(name, workdir=Path("."), in_memory=True)
        self.bot_id = bot_id
        self.shared = sessions
        self.handles_updates = handles_updates
        self.fields: SessionFields = {}
        self.states: States = {}
        self.checkpoints: Checkpoints[States] = Checkpoints()
        self._stored_ids: set[int] = set()
        self._writer: asyncio.Task[None] | None = None
        self._again = False
        # The dispatcher's queue, numbering updates for the checkpoints (update_client.py).
        self.queue: Renumbered | None = None

    async def open(self) -> None:
        """Raises SharedStateDown when the store cannot answer: the bot then waits for it
        (startup.py), it never signs in blind."""
        await super().open()
        self.fields = await self.shared.bot_session(self.bot_id)
        await self.reload_update_states()

    async def reload_update_states(self) -> None:
        """Read the update state again: a replica taking over from the leader catches up
        from where that one left it, not from what this one read when it opened."""
        await self._settled()
        stored = await self.shared.update_states(self.bot_id)
        self.states = {i: UpdateState(i, *values) for i, values in stored.items()}
        self._stored_ids = set(self.states)
        self.forget_pending()

    async def save(self) -> None:
        await self.date(int(time.time()))

    async def close(self) -> None:
        await self._settled()
        await super().close()

    async def delete(self) -> None:
        # Kurigram deletes the session after a log-out; the shared one goes with it.
        self.fields = {name: None for name in self.fields}
        await self.shared.save_bot_session(self.bot_id, self.fields)

    # Kurigram reads and writes every `sessions` column through these two.
    async def _get(self, table: str, attr: str) -> Any:
        if table != _SESSION_TABLE:
            return await super()._get(table, attr)
        return self.fields.get(attr)

    async def _set(self, table: str, attr: str, value: Any) -> None:
        if table != _SESSION_TABLE:
            await super()._set(table, attr, value)
            return
        if self.fields.get(attr) == value and attr in self.fields:
            return  # Kurigram sets the same values again at every start
        self.fields[attr] = value
        await self.shared.save_bot_session(self.bot_id, {attr: value})

    @staticmethod
    def _ids(ids: int | Iterable[int]) -> list[int]:
        return [ids] if isinstance(ids, int) else list(ids)

    # --- update state ---------------------------------------------------------------------

    async def get_update_states(self, ids: int | Iterable[int] | None = None) -> list[UpdateState]:
        wanted = self._ids(self.states if ids is None else ids)
        found = [self.states[i] for i in wanted if i in self.states]
        return sorted(found, key=lambda state: state.date or 0)

    async def set_update_state(self, update_state: UpdateState | Iterable[UpdateState]) -> None:
        updates = [update_state] if isinstance(update_state, UpdateState) else update_state
        for update in updates:
            old = self.states.get(update.id)
            # As Kurigram's own storage does: a field not given keeps its value.
            self.states[update.id] = UpdateState(
                update.id,
                update.pts if update.pts is not None else (old.pts if old else None),
                update.qts if update.qts is not None else (old.qts if old else None),
                update.date if update.date is not None else (old.date if old else None),
                update.seq if update.seq is not None else (old.seq if old else None),
            )
        await self._changed()

    async def delete_update_state(self, state_id: int | Iterable[int]) -> None:
        for i in self._ids(state_id):
            self.states.pop(i, None)
        await self._changed()

    # --- storing it once handled ----------------------------------------------------------

    @contextlib.asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """Around one call of Kurigram's handle_updates or recover_gaps: what it sets in the
        state is stored with the updates it queues, once they were handled."""
        if not self.handles_updates:
            yield
            return
        self.checkpoints.open()
        try:
            yield
        finally:
            self.checkpoints.close(dict(self.states))
            self._kick()

    def update_queued(self) -> int:
        return self.checkpoints.queue()

    def update_handled(self, position: int) -> None:
        self.checkpoints.done(position)
        self._kick()

    def forget_pending(self) -> None:
        """The state was read again, or this replica no longer handles updates: what was
        queued before is not counted (the next leader fetches what was not stored)."""
        self.checkpoints.reset()
        if self.queue is not None:
            self.queue.renumber()

    async def _changed(self) -> None:
        if self.handles_updates and self.checkpoints.open_batches == 0:
            # Set outside Kurigram's update handling (the first leader's GetState): stored
            # as soon as what is queued before it was handled, usually at once.
            self.checkpoints.close(dict(self.states))
            self._kick()
            await self._settled()

    def _kick(self) -> None:
        if not self.handles_updates:
            return
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_ready())
        else:
            self._again = True

    async def _write_ready(self) -> None:
        # One writer, so an older checkpoint never lands after a newer one.
        while True:
            self._again = False
            state = self.checkpoints.ready()
            if state is not None:
                try:
                    await self._store(state)
                except Exception as exc:
                    # Left to the next checkpoint, or to the next leader's getDifference.
                    log.warning("update state not stored", extra={"error": repr(exc)})
            if not self._again:
                return

    async def _store(self, state: States) -> None:
        gone = sorted(self._stored_ids - set(state))
        if gone:
            await self.shared.drop_update_states(self.bot_id, gone)
        if state:
            await self.shared.save_update_states(
                self.bot_id, {i: (s.pts, s.qts, s.date, s.seq) for i, s in state.items()}
            )
        self._stored_ids = set(state)

    async def _settled(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._writer)
