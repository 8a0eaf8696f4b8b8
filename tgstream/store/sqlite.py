"""The embedded store: one SQLite file in SESSION_DIR, mode 0600.

It holds what makes a restart warm: every auth key with its DC and whether it is authorized
(so no handshake or import is paid twice), the file -> DC map (so no migration is paid
twice), resolved bin-channel files (so a link needs no message fetch after a restart, until
the record is due for a recheck), flood deadlines (so a restart never calls a method
Telegram told us to wait on), what a media probe found in each file (so a file is probed
once) and how many streams each DC served (so a start-up opens the busiest DCs'
connections before anyone asks); and the owner's controls: revoked messages, banned users,
and which bin-channel copy each user's file became.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from .interface import BotSessions
from .problems import StoreUnavailable
from .records import AuthKeyRecord, FileInfo, IndexEntry

log = logging.getLogger("tgstream.store")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS auth_keys (
    bot_id INTEGER NOT NULL, dc INTEGER NOT NULL, auth_key BLOB NOT NULL,
    authorized INTEGER NOT NULL, created REAL NOT NULL, PRIMARY KEY (bot_id, dc)
);
CREATE TABLE IF NOT EXISTS dc_map (
    media_id INTEGER PRIMARY KEY, dc INTEGER NOT NULL, learned INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    message_id INTEGER PRIMARY KEY, media_id INTEGER NOT NULL, access_hash INTEGER NOT NULL,
    file_reference BLOB NOT NULL, dc INTEGER NOT NULL, size INTEGER NOT NULL,
    mime_type TEXT NOT NULL, file_name TEXT NOT NULL, kind TEXT NOT NULL,
    thumb_size TEXT NOT NULL, date INTEGER NOT NULL, fetched REAL NOT NULL,
    thumb_type TEXT, thumb_length INTEGER
);
CREATE TABLE IF NOT EXISTS revoked (message_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS banned (user_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS copies (
    chat_id INTEGER NOT NULL, message_id INTEGER NOT NULL, copy_id INTEGER NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
CREATE TABLE IF NOT EXISTS file_index (
    message_id INTEGER PRIMARY KEY, media_id INTEGER NOT NULL, file_name TEXT NOT NULL,
    size INTEGER NOT NULL, mime_type TEXT NOT NULL, modified INTEGER NOT NULL,
    posted INTEGER NOT NULL, month TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS file_index_month ON file_index (month, message_id);
CREATE TABLE IF NOT EXISTS media_probes (media_id INTEGER PRIMARY KEY, probe TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dc_served (dc INTEGER PRIMARY KEY, served INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS flood_waits (
    bot_id INTEGER NOT NULL, method TEXT NOT NULL, until REAL NOT NULL,
    PRIMARY KEY (bot_id, method)
);
"""


_MISSING_MAX = 10_000


def _add_thumb_columns(db: sqlite3.Connection) -> None:
    """The thumbnail's columns, on a state made before they existed; its records keep NULL
    there, which says "not known yet" (file() has them fetched again)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(files)")}
    for name, sql_type in (("thumb_type", "TEXT"), ("thumb_length", "INTEGER")):
        if name not in columns:
            db.execute(f"ALTER TABLE files ADD COLUMN {name} {sql_type}")


class SqliteStore:
    """The StateStore of one server.  Reads answer from the file; a write that fails (disk
    full, I/O error) is logged and counted, never raised: what it would have kept is still
    in memory, and is written again the next time it changes (or fetched from Telegram again
    after a restart)."""

    def __init__(self, session_dir: Path) -> None:
        self.path = session_dir / "tgstream.sqlite3"
        self.write_failures = 0
        self.shared = False
        # One process: ids Telegram called missing need no file, memory is the whole truth.
        self._missing: dict[int, float] = {}
        self._lock = threading.Lock()
        try:
            session_dir.mkdir(parents=True, exist_ok=True)
            os.chmod(session_dir, 0o700)
            # Created with 0600 before SQLite opens it: no window where it is wider.
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
            os.chmod(self.path, 0o600)
        except OSError as exc:
            where = Path(exc.filename) if exc.filename else session_dir
            raise StoreUnavailable(where, exc.strerror or repr(exc)) from None
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            checked = self.db.execute("PRAGMA quick_check").fetchone()
            if not checked or checked[0] != "ok":
                raise sqlite3.DatabaseError(f"damaged ({checked[0] if checked else 'no answer'})")
            self.db.executescript(_SCHEMA)
            _add_thumb_columns(self.db)
        except sqlite3.Error as exc:
            raise StoreUnavailable(self.path, _sqlite_cause(exc)) from None
        for suffix in ("-wal", "-shm"):
            sidecar = Path(f"{self.path}{suffix}")
            if sidecar.exists():
                os.chmod(sidecar, 0o600)

    def _write(self, sql: str, params: tuple[Any, ...] = ()) -> bool:
        try:
            with self._lock:
                self.db.execute(sql, params)
        except sqlite3.Error as exc:
            self.write_failures += 1
            log.warning(
                "could not write to SESSION_DIR", extra={"path": str(self.path), "error": str(exc)}
            )
            return False
        return True

    def describe(self) -> str:
        return str(self.path)

    @property
    def sessions(self) -> BotSessions | None:
        return None  # each bot's own Kurigram session file keeps it

    @property
    def available(self) -> bool:
        return True

    async def close(self) -> None:
        self.close_now()

    def close_now(self) -> None:
        with self._lock:
            self.db.close()

    def integrity_ok(self) -> bool:
        with self._lock:
            row = self.db.execute("PRAGMA integrity_check").fetchone()
        return bool(row) and row[0] == "ok"

    # --- auth keys ------------------------------------------------------------------------

    async def auth_key(self, bot_id: int, dc: int) -> AuthKeyRecord | None:
        with self._lock:
            row = self.db.execute(
                "SELECT auth_key, authorized FROM auth_keys WHERE bot_id = ? AND dc = ?",
                (bot_id, dc),
            ).fetchone()
        return AuthKeyRecord(bot_id, dc, bytes(row[0]), bool(row[1])) if row else None

    async def save_auth_key(self, record: AuthKeyRecord) -> None:
        self._write(
            "INSERT OR REPLACE INTO auth_keys (bot_id, dc, auth_key, authorized, created) "
            "VALUES (?, ?, ?, ?, ?)",
            (record.bot_id, record.dc, record.auth_key, int(record.authorized), time.time()),
        )

    async def drop_auth_key(self, bot_id: int, dc: int) -> None:
        self._write("DELETE FROM auth_keys WHERE bot_id = ? AND dc = ?", (bot_id, dc))

    # --- DC map ---------------------------------------------------------------------------

    async def dc_of(self, media_id: int) -> int | None:
        with self._lock:
            row = self.db.execute(
                "SELECT dc FROM dc_map WHERE media_id = ?", (media_id,)
            ).fetchone()
        return int(row[0]) if row else None

    async def set_dc(self, media_id: int, dc: int, learned: bool) -> None:
        self._write(
            "INSERT OR REPLACE INTO dc_map (media_id, dc, learned) VALUES (?, ?, ?)",
            (media_id, dc, int(learned)),
        )

    def dc_map_size(self) -> int:
        with self._lock:
            return int(self.db.execute("SELECT COUNT(*) FROM dc_map").fetchone()[0])

    # --- files ----------------------------------------------------------------------------

    async def file(self, message_id: int) -> tuple[FileInfo, float] | None:
        """The resolved file and the wall-clock time Telegram last confirmed it."""
        with self._lock:
            row = self.db.execute(
                "SELECT message_id, media_id, access_hash, file_reference, dc, size, mime_type, "
                "file_name, kind, thumb_size, date, fetched, thumb_type, thumb_length "
                "FROM files WHERE message_id = ?",
                (message_id,),
            ).fetchone()
        if row is None:
            return None
        info = FileInfo(
            row[0],
            row[1],
            row[2],
            bytes(row[3]),
            row[4],
            row[5],
            row[6],
            row[7],
            row[8],
            row[9],
            row[10],
            row[12] or "",
            row[13] or 0,
        )
        # A record written before thumbnails were kept (NULL) does not know the file's: as
        # if never confirmed, so the next use fetches the message again (and keeps serving
        # this record while Telegram cannot answer).
        return info, (0.0 if row[12] is None else float(row[11]))

    async def save_file(self, info: FileInfo, checked: float | None = None) -> None:
        self._write(
            "INSERT OR REPLACE INTO files (message_id, media_id, access_hash, file_reference, "
            "dc, size, mime_type, file_name, kind, thumb_size, date, fetched, thumb_type, "
            "thumb_length) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                info.message_id,
                info.media_id,
                info.access_hash,
                info.file_reference,
                info.dc,
                info.size,
                info.mime_type,
                info.file_name,
                info.kind,
                info.thumb_size,
                info.date,
                time.time() if checked is None else checked,
                info.thumb_type,
                info.thumb_length,
            ),
        )

    async def drop_file(self, message_id: int) -> None:
        self._write("DELETE FROM files WHERE message_id = ?", (message_id,))

    # --- ids Telegram called missing ----------------------------------------------------

    async def is_missing(self, message_id: int) -> bool:
        until = self._missing.get(message_id)
        if until is not None and until <= time.monotonic():
            del self._missing[message_id]
            until = None
        return until is not None

    async def remember_missing(self, message_id: int, ttl: float) -> None:
        now = time.monotonic()
        if len(self._missing) > _MISSING_MAX:
            self._missing = {k: v for k, v in self._missing.items() if v > now}
        self._missing[message_id] = now + ttl

    # --- flood deadlines ------------------------------------------------------------------

    async def flood_deadlines(self) -> list[tuple[int, str, float]]:
        with self._lock:
            rows = self.db.execute(
                "SELECT bot_id, method, until FROM flood_waits WHERE until > ?", (time.time(),)
            ).fetchall()
        return [(int(r[0]), str(r[1]), float(r[2])) for r in rows]

    async def flood_deadline(self, bot_id: int, method: str) -> float | None:
        with self._lock:
            row = self.db.execute(
                "SELECT until FROM flood_waits WHERE bot_id = ? AND method = ? AND until > ?",
                (bot_id, method, time.time()),
            ).fetchone()
        return float(row[0]) if row else None

    async def save_flood_deadline(self, bot_id: int, method: str, until: float) -> None:
        self._write("DELETE FROM flood_waits WHERE until <= ?", (time.time(),))
        self._write(
            "INSERT OR REPLACE INTO flood_waits (bot_id, method, until) VALUES (?, ?, ?)",
            (bot_id, method, until),
        )

    # --- the owner's controls ----------------------------------------------------------------

    def _ids(self, sql: str, params: tuple[Any, ...] = ()) -> list[int]:
        with self._lock:
            return [int(r[0]) for r in self.db.execute(sql, params)]

    async def is_revoked(self, message_id: int) -> bool:
        # `tgstream revoke` writes from another process: the file is the truth, not memory.
        return bool(self._ids("SELECT message_id FROM revoked WHERE message_id = ?", (message_id,)))

    async def set_revoked(self, message_id: int, revoked: bool) -> None:
        if revoked:
            self._write("INSERT OR IGNORE INTO revoked (message_id) VALUES (?)", (message_id,))
        else:
            self._write("DELETE FROM revoked WHERE message_id = ?", (message_id,))

    async def revoked_ids(self) -> list[int]:
        return self._ids("SELECT message_id FROM revoked ORDER BY message_id")

    async def is_banned(self, user_id: int) -> bool:
        return bool(self._ids("SELECT user_id FROM banned WHERE user_id = ?", (user_id,)))

    async def set_banned(self, user_id: int, banned: bool) -> None:
        if banned:
            self._write("INSERT OR IGNORE INTO banned (user_id) VALUES (?)", (user_id,))
        else:
            self._write("DELETE FROM banned WHERE user_id = ?", (user_id,))

    async def banned_users(self) -> list[int]:
        return self._ids("SELECT user_id FROM banned ORDER BY user_id")

    async def copy_of(self, chat_id: int, message_id: int) -> int | None:
        found = self._ids(
            "SELECT copy_id FROM copies WHERE chat_id = ? AND message_id = ?", (chat_id, message_id)
        )
        return found[0] if found else None

    async def save_copy(self, chat_id: int, message_id: int, copy_id: int) -> None:
        self._write(
            "INSERT OR REPLACE INTO copies (chat_id, message_id, copy_id) VALUES (?, ?, ?)",
            (chat_id, message_id, copy_id),
        )

    # --- the file index ---------------------------------------------------------------------

    async def index_months(self) -> list[str]:
        with self._lock:
            rows = self.db.execute("SELECT DISTINCT month FROM file_index ORDER BY month")
            return [str(r[0]) for r in rows]

    async def index_month(self, month: str) -> list[IndexEntry]:
        with self._lock:
            rows = self.db.execute(
                "SELECT message_id, media_id, file_name, size, mime_type, modified, posted "
                "FROM file_index WHERE month = ? ORDER BY message_id",
                (month,),
            ).fetchall()
        return [IndexEntry(*row) for row in rows]

    async def save_index_entry(self, entry: IndexEntry) -> None:
        self._write(
            "INSERT OR REPLACE INTO file_index (message_id, media_id, file_name, size, "
            "mime_type, modified, posted, month) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry.message_id,
                entry.media_id,
                entry.file_name,
                entry.size,
                entry.mime_type,
                entry.modified,
                entry.posted,
                entry.month,
            ),
        )

    async def drop_index_entry(self, message_id: int) -> None:
        self._write("DELETE FROM file_index WHERE message_id = ?", (message_id,))

    # --- media probes -----------------------------------------------------------------------

    async def media_probe(self, media_id: int) -> str | None:
        with self._lock:
            row = self.db.execute(
                "SELECT probe FROM media_probes WHERE media_id = ?", (media_id,)
            ).fetchone()
        return str(row[0]) if row else None

    async def save_media_probe(self, media_id: int, probe: str) -> None:
        self._write(
            "INSERT OR REPLACE INTO media_probes (media_id, probe) VALUES (?, ?)",
            (media_id, probe),
        )

    # --- streams served by DC -------------------------------------------------------------

    async def dc_served(self) -> dict[int, int]:
        with self._lock:
            rows = self.db.execute("SELECT dc, served FROM dc_served ORDER BY dc").fetchall()
        return {int(r[0]): int(r[1]) for r in rows}

    async def add_dc_served(self, counts: dict[int, int]) -> None:
        for dc, served in counts.items():
            if served > 0:
                self._write(
                    "INSERT INTO dc_served (dc, served) VALUES (?, ?) "
                    "ON CONFLICT (dc) DO UPDATE SET served = served + excluded.served",
                    (dc, served),
                )

    # --- everything, for `tgstream state migrate` ------------------------------------------

    def all_auth_keys(self) -> list[AuthKeyRecord]:
        with self._lock:
            rows = self.db.execute("SELECT bot_id, dc, auth_key, authorized FROM auth_keys")
            return [AuthKeyRecord(r[0], r[1], bytes(r[2]), bool(r[3])) for r in rows]

    def all_dc_map(self) -> list[tuple[int, int, bool]]:
        with self._lock:
            rows = self.db.execute("SELECT media_id, dc, learned FROM dc_map")
            return [(int(r[0]), int(r[1]), bool(r[2])) for r in rows]

    def all_copies(self) -> list[tuple[int, int, int]]:
        with self._lock:
            rows = self.db.execute("SELECT chat_id, message_id, copy_id FROM copies")
            return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]

    def all_media_probes(self) -> list[tuple[int, str]]:
        with self._lock:
            rows = self.db.execute("SELECT media_id, probe FROM media_probes")
            return [(int(r[0]), str(r[1])) for r in rows]

    def all_files(self) -> list[int]:
        with self._lock:
            return [int(r[0]) for r in self.db.execute("SELECT message_id FROM files")]


def _sqlite_cause(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "not a database" in text or "malformed" in text or "damaged" in text:
        return f"not a usable database ({text}); move it away to start afresh"
    if "readonly" in text or "read-only" in text:
        return f"cannot write ({text})"
    if "locked" in text:
        return f"locked by another process ({text})"
    return text


def check_session_file(path: Path) -> None:
    """A bot's Kurigram session file, if there is one, must be a readable SQLite file:
    Kurigram would otherwise fail on it at every sign-in attempt."""
    if not path.exists():
        return
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            checked = db.execute("PRAGMA quick_check").fetchone()
            db.execute("SELECT dc_id, auth_key FROM sessions").fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise StoreUnavailable(
            path, f"not a usable session file ({exc}); moving it away means a new sign-in"
        ) from None
    if not checked or checked[0] != "ok":
        raise StoreUnavailable(path, "damaged session file; moving it away means a new sign-in")
