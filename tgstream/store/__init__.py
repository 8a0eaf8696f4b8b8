"""Persistent state of the server: auth keys, the DC map, resolved files, flood deadlines;
in SQLite in SESSION_DIR (one server) or Redis (replicas), behind one interface."""

from pathlib import Path

from .interface import BotSessions, StateStore
from .lock import lock_session_dir
from .problems import SharedStateDown, StoreUnavailable
from .records import AuthKeyRecord, FileInfo, IndexEntry, SessionFields, UpdateStates, month_of
from .sqlite import SqliteStore, check_session_file


def open_store(
    state_url: str | None, session_dir: Path, state_timeout: float | None = None
) -> StateStore:
    """The store STATE_URL names: Redis for `redis://…`, else the SQLite in SESSION_DIR."""
    if state_url:
        from .redis_store import TIMEOUT, RedisStore

        return RedisStore(state_url, TIMEOUT if state_timeout is None else state_timeout)
    return SqliteStore(session_dir)


__all__ = [
    "AuthKeyRecord",
    "BotSessions",
    "FileInfo",
    "IndexEntry",
    "SessionFields",
    "SharedStateDown",
    "SqliteStore",
    "StateStore",
    "StoreUnavailable",
    "UpdateStates",
    "check_session_file",
    "lock_session_dir",
    "month_of",
    "open_store",
]
