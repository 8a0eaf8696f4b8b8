"""One server per SESSION_DIR: two processes on one SQLite file and one set of session
files (a rolling deploy on one volume) would break each other's keys and sessions."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from .problems import StoreUnavailable

LOCK_NAME = "tgstream.lock"


def lock_session_dir(session_dir: Path) -> int:
    """Hold SESSION_DIR for this process (the lock goes with the process, however it ends);
    StoreUnavailable naming the holder when another process has it."""
    path = session_dir / LOCK_NAME
    try:
        session_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as exc:
        where = Path(exc.filename) if exc.filename else session_dir
        raise StoreUnavailable(where, exc.strerror or repr(exc)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StoreUnavailable(
            session_dir,
            f"in use by process {holder} (another tgstream serve); stop it or use another "
            "SESSION_DIR",
        ) from None
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
