"""Kurigram's session storage on the shared store, for replicas (`STATE_URL=redis://…`).

A bot's own session (its home DC, the auth key authorized at sign-in, its user id, the API
id) and its update state are read from the shared store when the client opens, so a replica
started beside others finds the bot signed in: no handshake, no sign-in.  They are written
back there as Kurigram changes them; a write the store cannot take now is kept by the store
and written when it can.  Peers and usernames stay in this process's memory (an in-memory
SQLite, as Kurigram keeps them for a session string): each replica learns them from the
answers it gets, and tgstream names the bin channel without them.

The session id Kurigram puts on each connection is not part of this: it is made afresh for
every connection, so replicas sharing a key never share a session.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pyrogram.storage import SQLiteStorage
from pyrogram.storage.storage import UpdateState

from ..store import BotSessions, SessionFields

log = logging.getLogger("tgstream.telegram.shared_session")

_SESSION_TABLE = "sessions"


class SharedStorage(SQLiteStorage):  # type: ignore[misc]
    def __init__(self, name: str, bot_id: int, sessions: BotSessions) -> None:
        super().__init__(name, workdir=Path("."), in_memory=True)
        self.bot_id = bot_id
        self.shared = sessions
        self.fields: SessionFields = {}
        self.states: dict[int, UpdateState] = {}

    async def open(self) -> None:
        """Raises SharedStateDown when the store cannot answer: the bot then waits for it
        (startup.py), it never signs in blind."""
        await super().open()
        self.fields = await self.shared.bot_session(self.bot_id)
        stored = await self.shared.update_states(self.bot_id)
        self.states = {i: UpdateState(i, *values) for i, values in stored.items()}

    async def reload_update_states(self) -> None:
        """Read the update state again: a replica taking over from the leader catches up
        from where that one left it, not from what this one read when it opened."""
        stored = await self.shared.update_states(self.bot_id)
        self.states = {i: UpdateState(i, *values) for i, values in stored.items()}

    async def save(self) -> None:
        await self.date(int(time.time()))

    async def close(self) -> None:
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
        changed: dict[int, tuple[int | None, int | None, int | None, int | None]] = {}
        for update in updates:
            old = self.states.get(update.id)
            # As Kurigram's own storage does: a field not given keeps its value.
            merged = UpdateState(
                update.id,
                update.pts if update.pts is not None else (old.pts if old else None),
                update.qts if update.qts is not None else (old.qts if old else None),
                update.date if update.date is not None else (old.date if old else None),
                update.seq if update.seq is not None else (old.seq if old else None),
            )
            self.states[update.id] = merged
            changed[update.id] = (merged.pts, merged.qts, merged.date, merged.seq)
        if changed:
            await self.shared.save_update_states(self.bot_id, changed)

    async def delete_update_state(self, state_id: int | Iterable[int]) -> None:
        ids = self._ids(state_id)
        for i in ids:
            self.states.pop(i, None)
        if ids:
            await self.shared.drop_update_states(self.bot_id, ids)
