"""The emulator's persistent state: auth keys, accounts and files, in SQLite under --state-dir.

Everything a client could notice across an emulator restart lives here (auth keys and the
user each is authorized as, accounts, files and their references).  Reads go to in-memory
mirrors; writes go through to SQLite at once, so a killed emulator loses nothing.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import string
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS auth_keys (
    key_id INTEGER PRIMARY KEY, dc INTEGER NOT NULL, auth_key BLOB NOT NULL,
    user_id INTEGER, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY, access_hash INTEGER NOT NULL, first_name TEXT NOT NULL,
    last_name TEXT, username TEXT, is_bot INTEGER NOT NULL, token_secret TEXT, home_dc INTEGER
);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY, dc INTEGER NOT NULL, access_hash INTEGER NOT NULL,
    file_reference BLOB NOT NULL, size INTEGER NOT NULL, mime_type TEXT NOT NULL,
    name TEXT NOT NULL, kind TEXT NOT NULL, date INTEGER NOT NULL, path TEXT NOT NULL,
    width INTEGER, height INTEGER, duration REAL, gone INTEGER NOT NULL DEFAULT 0,
    thumb_path TEXT, thumb_type TEXT, thumb_w INTEGER, thumb_h INTEGER, thumb_size INTEGER
);
"""

_THUMB_COLUMNS = (
    ("thumb_path", "TEXT"),
    ("thumb_type", "TEXT"),
    ("thumb_w", "INTEGER"),
    ("thumb_h", "INTEGER"),
    ("thumb_size", "INTEGER"),
)
BOT_ID_BASE = 7_000_000_000
USER_ACCESS_HASH_BITS = 63


def _i64() -> int:
    return secrets.randbits(63)


@dataclass(slots=True)
class AuthKey:
    key_id: int
    dc: int
    auth_key: bytes
    user_id: int | None
    created: float
    # Temporary (PFS) keys live in memory only and borrow the authorization of the
    # permanent key they are bound to.
    temp_expires_at: int | None = None
    bound_to: int | None = None


@dataclass(slots=True)
class User:
    id: int
    access_hash: int
    first_name: str
    last_name: str | None
    username: str | None
    is_bot: bool
    token_secret: str | None
    home_dc: int | None

    @property
    def token(self) -> str | None:
        return f"{self.id}:{self.token_secret}" if self.token_secret else None


@dataclass(slots=True)
class StoredFile:
    id: int
    dc: int
    access_hash: int
    file_reference: bytes
    size: int
    mime_type: str
    name: str
    kind: str
    date: int
    path: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    # Deleted from storage: its description lives on in messages, its bytes are gone.
    gone: bool = False
    # A document's thumbnail (JPEG), as Telegram keeps one beside a video or a file sent
    # with one: where its bytes are, its size type ("s", "m"), dimensions and length.
    thumb: StoredThumb | None = None


@dataclass(frozen=True, slots=True)
class StoredThumb:
    path: str
    type: str
    w: int
    h: int
    size: int


@dataclass
class Store:
    state_dir: Path
    db: sqlite3.Connection = field(init=False)
    keys: dict[int, AuthKey] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)
    files: dict[int, StoredFile] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "files").mkdir(exist_ok=True)
        path = self.state_dir / "emulator.sqlite3"
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        os.chmod(path, 0o600)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(files)")}
        if "gone" not in columns:
            # State dirs made before files could be deleted lack the column.
            self.db.execute("ALTER TABLE files ADD COLUMN gone INTEGER NOT NULL DEFAULT 0")
        for name, sql_type in _THUMB_COLUMNS:
            if name not in columns:
                # ...and those made before documents had thumbnails, these (NULL: none).
                self.db.execute(f"ALTER TABLE files ADD COLUMN {name} {sql_type}")
        for row in self.db.execute("SELECT key_id, dc, auth_key, user_id, created FROM auth_keys"):
            key_id = from_sql_u64(row[0])
            self.keys[key_id] = AuthKey(key_id, row[1], bytes(row[2]), row[3], row[4])
        for row in self.db.execute(
            "SELECT id, access_hash, first_name, last_name, username, is_bot, token_secret, "
            "home_dc FROM users"
        ):
            self.users[row[0]] = User(
                row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6], row[7]
            )
        for row in self.db.execute(
            "SELECT id, dc, access_hash, file_reference, size, mime_type, name, kind, date, path, "
            "width, height, duration, gone, thumb_path, thumb_type, thumb_w, thumb_h, "
            "thumb_size FROM files"
        ):
            stored = StoredFile(row[0], row[1], row[2], bytes(row[3]), *row[4:13])
            stored.gone = bool(row[13])
            if row[14] is not None:
                stored.thumb = StoredThumb(*row[14:19])
            self.files[stored.id] = stored

    def close(self) -> None:
        self.db.close()

    # --- meta -----------------------------------------------------------------------------

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def secret(self, name: str) -> bytes:
        """A random per-state-dir secret, created on first use (salts, export bytes)."""
        value = self.meta(f"secret:{name}")
        if value is None:
            value = secrets.token_hex(32)
            self.set_meta(f"secret:{name}", value)
        return bytes.fromhex(value)

    # --- auth keys ------------------------------------------------------------------------

    def add_key(self, key: AuthKey) -> None:
        self.keys[key.key_id] = key
        if key.temp_expires_at is None:
            self.db.execute(
                "INSERT OR REPLACE INTO auth_keys (key_id, dc, auth_key, user_id, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (_sql_u64(key.key_id), key.dc, key.auth_key, key.user_id, key.created),
            )

    def get_key(self, key_id: int) -> AuthKey | None:
        key = self.keys.get(key_id)
        if (
            key is not None
            and key.temp_expires_at is not None
            and key.temp_expires_at < time.time()
        ):
            self.drop_key(key_id)
            return None
        return key

    def authorize_key(self, key: AuthKey, user_id: int | None) -> None:
        key.user_id = user_id
        if key.temp_expires_at is None:
            self.db.execute(
                "UPDATE auth_keys SET user_id = ? WHERE key_id = ?",
                (user_id, _sql_u64(key.key_id)),
            )

    def drop_key(self, key_id: int) -> None:
        self.keys.pop(key_id, None)
        self.db.execute("DELETE FROM auth_keys WHERE key_id = ?", (_sql_u64(key_id),))

    def user_of(self, key: AuthKey) -> User | None:
        if key.bound_to is not None:
            perm = self.keys.get(key.bound_to)
            return self.users.get(perm.user_id) if perm and perm.user_id else None
        return self.users.get(key.user_id) if key.user_id is not None else None

    # --- users ----------------------------------------------------------------------------

    def ensure_bots(self, count: int, home_dc: int) -> list[User]:
        bots = sorted((u for u in self.users.values() if u.is_bot), key=lambda u: u.id)
        for index in range(len(bots), count):
            alphabet = string.ascii_letters + string.digits
            bot = User(
                id=BOT_ID_BASE + index + 1,
                access_hash=_i64(),
                first_name=f"tgstream test bot {index + 1}",
                last_name=None,
                username=f"tgstream_test{index + 1}_bot",
                is_bot=True,
                token_secret="AA" + "".join(secrets.choice(alphabet) for _ in range(33)),
                home_dc=home_dc,
            )
            self.save_user(bot)
            bots.append(bot)
        return bots[:count]

    def save_user(self, user: User) -> None:
        self.users[user.id] = user
        self.db.execute(
            "INSERT OR REPLACE INTO users (id, access_hash, first_name, last_name, username, "
            "is_bot, token_secret, home_dc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                user.id,
                user.access_hash,
                user.first_name,
                user.last_name,
                user.username,
                int(user.is_bot),
                user.token_secret,
                user.home_dc,
            ),
        )

    def ensure_user(self, user_id: int) -> User:
        user = self.users.get(user_id)
        if user is None:
            user = User(
                id=user_id,
                access_hash=_i64(),
                first_name="Test",
                last_name=f"User {user_id}",
                username=f"test_user_{user_id}",
                is_bot=False,
                token_secret=None,
                home_dc=None,
            )
            self.save_user(user)
        return user

    # --- files ----------------------------------------------------------------------------

    def new_file_path(self) -> tuple[int, Path]:
        file_id = secrets.randbits(62) + 1
        return file_id, self.state_dir / "files" / f"{file_id}.bin"

    def add_file(self, stored: StoredFile) -> None:
        self.files[stored.id] = stored
        thumb = stored.thumb
        self.db.execute(
            "INSERT OR REPLACE INTO files (id, dc, access_hash, file_reference, size, mime_type, "
            "name, kind, date, path, width, height, duration, gone, thumb_path, thumb_type, "
            "thumb_w, thumb_h, thumb_size) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                stored.id,
                stored.dc,
                stored.access_hash,
                stored.file_reference,
                stored.size,
                stored.mime_type,
                stored.name,
                stored.kind,
                stored.date,
                stored.path,
                stored.width,
                stored.height,
                stored.duration,
                int(stored.gone),
                *(
                    (None,) * 5
                    if thumb is None
                    else (thumb.path, thumb.type, thumb.w, thumb.h, thumb.size)
                ),
            ),
        )

    def delete_file(self, stored: StoredFile) -> None:
        """Lose a file's bytes, as when storage loses a document; messages keep naming it."""
        stored.gone = True
        self.db.execute("UPDATE files SET gone = 1 WHERE id = ?", (stored.id,))
        Path(stored.path).unlink(missing_ok=True)
        if stored.thumb is not None:
            Path(stored.thumb.path).unlink(missing_ok=True)

    def rotate_references(self) -> int:
        """Give every file a new file_reference; the old ones stop working."""
        with self.db:
            for stored in self.files.values():
                stored.file_reference = new_file_reference()
                self.db.execute(
                    "UPDATE files SET file_reference = ? WHERE id = ?",
                    (stored.file_reference, stored.id),
                )
        return len(self.files)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return list(self.db.execute(sql, params))


def new_file_reference() -> bytes:
    # Telegram's references are opaque ~20-30 byte blobs beginning with a version byte.
    return b"\x02" + secrets.token_bytes(20)


def _sql_u64(value: int) -> int:
    # auth_key_id is an unsigned 64-bit value; SQLite integers are signed.
    return value - (1 << 64) if value >= 1 << 63 else value


def from_sql_u64(value: int) -> int:
    return value + (1 << 64) if value < 0 else value
