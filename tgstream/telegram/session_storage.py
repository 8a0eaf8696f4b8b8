"""Kurigram's session storage, made to survive a full disk.

Kurigram writes to the bot's session file after nearly every call (the peers and users in
the answer, the update state).  On a full or failing disk those writes raise from inside
calls Telegram answered perfectly well, and every link would fail with them.  Here a failed
write is logged and dropped: the session's key is already on disk, peers are fetched again
when needed, and the update state is written again with the next update.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from pyrogram.storage import SQLiteStorage

log = logging.getLogger("tgstream.telegram.session_storage")


class TolerantStorage(SQLiteStorage):  # type: ignore[misc]
    write_failures = 0

    def _failed(self, what: str, exc: sqlite3.Error) -> None:
        TolerantStorage.write_failures += 1
        log.warning("could not write the bot session", extra={"what": what, "error": str(exc)})

    async def save(self) -> None:
        try:
            await super().save()
        except sqlite3.Error as exc:
            self._failed("save", exc)

    async def update_peers(self, peers: Any) -> None:
        try:
            await super().update_peers(peers)
        except sqlite3.Error as exc:
            self._failed("peers", exc)

    async def update_usernames(self, usernames: Any) -> None:
        try:
            await super().update_usernames(usernames)
        except sqlite3.Error as exc:
            self._failed("usernames", exc)

    async def set_update_state(self, update_state: Any) -> None:
        try:
            await super().set_update_state(update_state)
        except sqlite3.Error as exc:
            self._failed("update state", exc)

    async def _set(self, table: str, attr: str, value: Any) -> None:
        try:
            await super()._set(table, attr, value)
        except sqlite3.Error as exc:
            self._failed(attr, exc)
