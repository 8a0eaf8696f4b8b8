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
from collections.abc import Awaitable
from typing import Any

from pyrogram.storage import SQLiteStorage

log = logging.getLogger("tgstream.telegram.session_storage")


class TolerantStorage(SQLiteStorage):  # type: ignore[misc]
    write_failures = 0

    async def _tolerate(self, what: str, write: Awaitable[None]) -> None:
        try:
            await write
        except sqlite3.Error as exc:
            TolerantStorage.write_failures += 1
            log.warning("could not write the bot session", extra={"what": what, "error": str(exc)})

    async def save(self) -> None:
        await self._tolerate("save", super().save())

    async def update_peers(self, peers: Any) -> None:
        await self._tolerate("peers", super().update_peers(peers))

    async def update_usernames(self, usernames: Any) -> None:
        await self._tolerate("usernames", super().update_usernames(usernames))

    async def set_update_state(self, update_state: Any) -> None:
        await self._tolerate("update state", super().set_update_state(update_state))

    async def _set(self, table: str, attr: str, value: Any) -> None:
        await self._tolerate(attr, super()._set(table, attr, value))
