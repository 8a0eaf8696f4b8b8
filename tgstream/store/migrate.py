"""`tgstream state migrate --to redis://…`: one server's state in SESSION_DIR (its SQLite
store and each bot's Kurigram session file) copied once into an empty Redis, so replicas
started on it sign nothing in and import nothing that server already had."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from .lock import lock_session_dir
from .problems import SharedStateDown, StoreUnavailable
from .records import SessionFields, UpdateStates
from .redis_store import SESSION_TYPES, RedisStore
from .sqlite import SqliteStore


class MigrationRefused(Exception):
    """Said in one line: the target already has state, or the source cannot be read."""


@dataclass
class Migrated:
    auth_keys: int = 0
    dc_map: int = 0
    files: int = 0
    flood_deadlines: int = 0
    bot_sessions: int = 0
    revoked: int = 0
    banned: int = 0
    copies: int = 0
    indexed: int = 0
    media_probes: int = 0
    dc_served: int = 0

    def __str__(self) -> str:
        return (
            f"{self.bot_sessions} bot sessions, {self.auth_keys} auth keys, {self.files} files, "
            f"{self.dc_map} DC map entries, {self.flood_deadlines} flood deadlines, "
            f"{self.revoked} revoked messages, {self.banned} banned users, "
            f"{self.copies} file copies, {self.indexed} indexed files, "
            f"{self.media_probes} media probes, {self.dc_served} DCs' served counts"
        )


def read_bot_session(path: Path) -> tuple[SessionFields, UpdateStates]:
    """A Kurigram session file's session row and update states (read-only)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        columns = {r[1] for r in db.execute("PRAGMA table_info(sessions)")}
        names = [name for name in SESSION_TYPES if name in columns]
        row = db.execute(f"SELECT {', '.join(names)} FROM sessions").fetchone()
        fields: SessionFields = {}
        for name, value in zip(names, row or (), strict=False):
            if value is not None:
                kind = SESSION_TYPES[name]
                fields[name] = bytes(value) if kind is bytes else kind(value)
        states: UpdateStates = {}
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "update_state" in tables:
            for sid, pts, qts, date, seq in db.execute(
                "SELECT id, pts, qts, date, seq FROM update_state"
            ):
                states[int(sid)] = (pts, qts, date, seq)
        return fields, states
    finally:
        db.close()


def _bot_session_files(session_dir: Path) -> list[Path]:
    if not (session_dir / "tgstream.sqlite3").exists():
        raise MigrationRefused(f"{session_dir}: no tgstream.sqlite3 to migrate")
    return sorted(session_dir.glob("bot-*.session"))


async def migrate_session_dir(session_dir: Path, url: str) -> Migrated:
    bot_files = _bot_session_files(session_dir)
    try:
        lock = lock_session_dir(session_dir)  # no server may write it meanwhile
        source = SqliteStore(session_dir)
    except StoreUnavailable as exc:
        raise MigrationRefused(str(exc)) from None
    target = RedisStore(url)
    done = Migrated()
    try:
        try:
            there = await target.has_state()
        except SharedStateDown as exc:
            raise MigrationRefused(str(exc)) from None
        if there:
            raise MigrationRefused(f"{target.describe()} already has tgstream state; not touched")
        for path in bot_files:
            bot_id = int(path.stem.removeprefix("bot-"))
            try:
                fields, states = read_bot_session(path)
            except (sqlite3.Error, ValueError) as exc:
                raise MigrationRefused(f"{path}: not a usable session file ({exc})") from None
            await target.save_bot_session(bot_id, fields)
            await target.save_update_states(bot_id, states)
            done.bot_sessions += 1
        for record in source.all_auth_keys():
            await target.save_auth_key(record)
            done.auth_keys += 1
        for media_id, dc, learned in source.all_dc_map():
            await target.set_dc(media_id, dc, learned)
            done.dc_map += 1
        for message_id in source.all_files():
            found = await source.file(message_id)
            if found is not None:
                await target.save_file(*found)
                done.files += 1
        for bot_id, method, until in await source.flood_deadlines():
            await target.save_flood_deadline(bot_id, method, until)
            done.flood_deadlines += 1
        for message_id in await source.revoked_ids():
            await target.set_revoked(message_id, True)
            done.revoked += 1
        for user_id in await source.banned_users():
            await target.set_banned(user_id, True)
            done.banned += 1
        for chat_id, message_id, copy_id in source.all_copies():
            await target.save_copy(chat_id, message_id, copy_id)
            done.copies += 1
        for month in await source.index_months():
            for entry in await source.index_month(month):
                await target.save_index_entry(entry)
                done.indexed += 1
        for media_id, probe in source.all_media_probes():
            await target.save_media_probe(media_id, probe)
            done.media_probes += 1
        served = await source.dc_served()
        await target.add_dc_served(served)
        done.dc_served = len(served)
        if target.pending:
            raise MigrationRefused(f"{target.describe()}: writes failed; run it again")
        return done
    finally:
        target.pending.clear()  # a refused migration leaves nothing to write later
        await target.close()
        source.close_now()
        os.close(lock)
