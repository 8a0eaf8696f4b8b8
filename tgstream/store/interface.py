"""The one interface of the server's state, whichever backend keeps it.

Two implementations, as a client library's session storage has memory and sqlite: the
embedded SQLite file in SESSION_DIR (one server) and Redis (`STATE_URL`, shared by
replicas).  Reads that need a backend that cannot answer raise `SharedStateDown`; writes
never raise: what failed is kept and written again (Redis) or counted and left in memory
(SQLite), so a failing backend costs records, never viewers.
"""

from __future__ import annotations

from typing import Protocol

from .records import AuthKeyRecord, FileInfo, IndexEntry, SessionFields, UpdateStates


class BotSessions(Protocol):
    """Each bot's own session (its home DC's key, its identity) and its update state, where
    every replica reads them; a store without them leaves them to the client's own file."""

    async def bot_session(self, bot_id: int) -> SessionFields: ...

    async def save_bot_session(self, bot_id: int, fields: SessionFields) -> None: ...

    async def update_states(self, bot_id: int) -> UpdateStates: ...

    async def save_update_states(self, bot_id: int, states: UpdateStates) -> None: ...

    async def drop_update_states(self, bot_id: int, ids: list[int]) -> None: ...


class StateStore(Protocol):
    # Whether other processes read and write the same state: then a flood deadline is read
    # again before a call, since another replica may have been told to wait.
    shared: bool
    write_failures: int

    def describe(self) -> str:
        """Where the state lives, for logs and /status (no password)."""
        ...

    @property
    def sessions(self) -> BotSessions | None: ...

    @property
    def available(self) -> bool:
        """Whether the last attempt to reach the backend worked."""
        ...

    async def auth_key(self, bot_id: int, dc: int) -> AuthKeyRecord | None: ...

    async def save_auth_key(self, record: AuthKeyRecord) -> None: ...

    async def drop_auth_key(self, bot_id: int, dc: int) -> None: ...

    async def dc_of(self, media_id: int) -> int | None: ...

    async def set_dc(self, media_id: int, dc: int, learned: bool) -> None: ...

    def dc_map_size(self) -> int:
        """Files in the DC map, as last counted (read at scrape time, so never waits)."""
        ...

    async def file(self, message_id: int) -> tuple[FileInfo, float] | None:
        """The resolved file and the wall-clock time Telegram last confirmed it."""
        ...

    async def save_file(self, info: FileInfo, checked: float | None = None) -> None: ...

    async def drop_file(self, message_id: int) -> None: ...

    async def is_missing(self, message_id: int) -> bool:
        """Whether Telegram recently said this message is not there (negative cache)."""
        ...

    async def remember_missing(self, message_id: int, ttl: float) -> None: ...

    async def flood_deadlines(self) -> list[tuple[int, str, float]]:
        """(bot_id, method, wall-clock until) of every deadline still running."""
        ...

    async def flood_deadline(self, bot_id: int, method: str) -> float | None: ...

    async def save_flood_deadline(self, bot_id: int, method: str, until: float) -> None: ...

    # --- the owner's controls: revoked links, banned users, and which bin-channel copy a
    # user's file became (so a /link or /revoke in reply to that file finds it) ----------

    async def is_revoked(self, message_id: int) -> bool:
        """Whether every link of this bin-channel message was revoked (read from the
        backend each time: another process may have revoked it)."""
        ...

    async def set_revoked(self, message_id: int, revoked: bool) -> None: ...

    async def revoked_ids(self) -> list[int]: ...

    async def is_banned(self, user_id: int) -> bool: ...

    async def set_banned(self, user_id: int, banned: bool) -> None: ...

    async def banned_users(self) -> list[int]: ...

    async def copy_of(self, chat_id: int, message_id: int) -> int | None:
        """The bin-channel message a user's file message was copied to, if known."""
        ...

    async def save_copy(self, chat_id: int, message_id: int, copy_id: int) -> None: ...

    # --- the file index: every file of the bin channel by month of posting (the WebDAV
    # view lists it; the bot adds what arrives, `tgstream index --backfill` what was there) --

    async def index_months(self) -> list[str]:
        """The months (``2026-11``) with at least one indexed file, in order."""
        ...

    async def index_month(self, month: str) -> list[IndexEntry]:
        """The files indexed in `month`, by message id."""
        ...

    async def save_index_entry(self, entry: IndexEntry) -> None: ...

    async def drop_index_entry(self, message_id: int) -> None: ...

    # --- what a media probe found in a file (tgstream.media), by Telegram's media id: the
    # same file under another message is the same probe.  Opaque text to the store. ----------

    async def media_probe(self, media_id: int) -> str | None: ...

    async def save_media_probe(self, media_id: int, probe: str) -> None: ...

    # --- how much each DC served: which DCs' pools a start-up opens at once ---------------

    async def dc_served(self) -> dict[int, int]:
        """By DC, the requests viewers waited on there (a stream's first part and its
        hashes, a thumbnail: about two per stream), over the state's life."""
        ...

    async def add_dc_served(self, counts: dict[int, int]) -> None:
        """Add `counts` to what each DC served (a replica's counts add to the others')."""
        ...

    async def close(self) -> None: ...
