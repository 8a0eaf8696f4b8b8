"""The disk tier under the part cache: parts fetched from Telegram kept in CACHE_DIR, so a
restart (or another server on the same machine) serves them again without Telegram.

The store is `diskcache`: an SQLite index (safe for several processes, WAL) over one file per
part, a size limit, and least-recently-used eviction.  Each value is the part's SHA-256
followed by its bytes; a part read back that no longer matches is dropped, counted, and
fetched again.  Every disk call runs on a small thread pool of its own, never on the event
loop.  Any disk error other than a busy index (a full disk, an unwritable directory) turns
the tier off for the rest of the process with one log line: the RAM cache and Telegram
still serve every viewer.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import sqlite3
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar

import diskcache

log = logging.getLogger("tgstream.disk_tier")

State = Literal["on", "off", "degraded"]
T = TypeVar("T")

DIGEST = 32  # a SHA-256, stored in front of the part's bytes
# Threads doing disk work at once; more would only queue on the same disk and index.
THREADS = 4
# Writes waiting for a thread at most: each holds a part (1 MiB) in memory, so past this the
# next write waits for one to finish (a disk slower than Telegram slows the fetch, rather
# than lose parts or pile them up in memory).
PENDING_WRITES = 32
# Seconds a call waits on the index while another process writes; then it gives up (a miss,
# or a part not written) rather than hold a viewer.
INDEX_TIMEOUT = 2.0
# Errors that mean the disk cannot be used (full, read-only, gone, no permission).
DISK_ERRORS = (OSError, sqlite3.Error)


def _plain(value: object) -> bool:
    """An int, or a short word: what may stand in a stored name between colons."""
    if isinstance(value, int):
        return not isinstance(value, bool)
    return isinstance(value, str) and 0 < len(value) <= 32 and value.isidentifier()


def disk_key(key: Hashable) -> tuple[str, int] | None:
    """The stored name of a part cache key and its media id; None for a key of another
    shape, which stays in RAM only.  Keys: a part (media id, offset, limit), or something
    made from a file (media id, "kind", ints or words...: a thumbnail, an HLS segment),
    whose word keeps its name apart from every part's.  Telegram's media id, not any Python
    object, so the name is the same after a restart and in every process."""
    if not isinstance(key, tuple) or len(key) < 3 or not all(_plain(k) for k in key):
        return None
    media_id = key[0]
    if not isinstance(media_id, int):
        return None
    if len(key) == 3 and all(isinstance(k, int) for k in key):
        return f"{media_id}:{key[1]}:{key[2]}", media_id
    if not isinstance(key[1], str):
        return None
    return ":".join(str(k) for k in key), media_id


def seal(data: bytes) -> bytes:
    """The stored form of a part: its SHA-256, then its bytes."""
    return hashlib.sha256(data).digest() + data


def unseal(stored: bytes) -> bytes | None:
    """A part's bytes from their stored form; None when they no longer match the hash."""
    return checked(stored[:DIGEST], stored[DIGEST:])


def checked(digest: bytes, data: bytes) -> bytes | None:
    """`data` if `digest` is its SHA-256, else None."""
    if len(digest) != DIGEST or hashlib.sha256(data).digest() != digest:
        return None
    return data


class DiskTier:
    """Parts on disk, by the part cache's keys.  `read` and `write` are what the part cache
    calls; the counters are read by /metrics and /status."""

    def __init__(self, directory: Path, budget_bytes: int) -> None:
        self.directory = directory
        self.budget = budget_bytes
        self.state: State = "off"
        self.store: Any = None  # diskcache.Cache once open
        self.pool: ThreadPoolExecutor | None = None
        # The index's write lock, taken in this process before SQLite's: every lookup is a
        # write (LRU keeps the time of use), and threads that find SQLite's lock taken sleep
        # in its busy handler for up to tens of milliseconds at a time, far longer than a
        # lookup holds it.  Parts are read and checked outside it, in parallel.
        self.index = threading.Lock()
        self.writes: set[asyncio.Future[None]] = set()
        self.used = 0
        self.hits = 0
        self.misses = 0
        self.bytes_read = 0
        self.bytes_written = 0
        self.evictions = 0
        self.corrupt = 0
        self.skipped_writes = 0

    @classmethod
    def off(cls) -> DiskTier:
        return cls(Path(), 0)

    def open(self) -> None:
        """Open (or create) the store; on failure the tier stays off, with one log line.
        Called once at start-up, before anything is served."""
        if self.budget <= 0:
            return
        try:
            self.store = diskcache.Cache(
                str(self.directory),
                size_limit=self.budget,
                eviction_policy="least-recently-used",
                tag_index=True,
                timeout=INDEX_TIMEOUT,
            )
            self.used = int(self.store.volume())
        except DISK_ERRORS as exc:
            self._degrade("open", exc)
            return
        self.pool = ThreadPoolExecutor(THREADS, thread_name_prefix="disk-tier")
        self.state = "on"

    @property
    def active(self) -> bool:
        return self.state == "on"

    def _degrade(self, doing: str, exc: BaseException) -> None:
        if self.state == "degraded":
            return
        self.state = "degraded"
        log.warning(
            "disk cache off, serving from RAM and Telegram only",
            extra={"cache_dir": str(self.directory), "during": doing, "error": repr(exc)},
        )

    async def _run(self, job: Callable[[], T]) -> T:
        assert self.pool is not None
        # Cancelling the await (the viewer left) cancels a job not yet started; one already
        # reading finishes its part in its thread and the result is dropped.
        return await asyncio.get_running_loop().run_in_executor(self.pool, job)

    async def read(self, key: Hashable) -> bytes | None:
        """The part's bytes from disk, or None (not there, damaged, or the tier is off)."""
        name = disk_key(key)
        if name is None or not self.active:
            return None
        try:
            data = await self._run(lambda: self._read(name[0]))
        except diskcache.Timeout:
            data = None
        except DISK_ERRORS as exc:
            self._degrade("read", exc)
            data = None
        if data is None:
            self.misses += 1
            return None
        self.hits += 1
        self.bytes_read += len(data)
        return data

    def _read(self, name: str) -> bytes | None:
        with self.index:
            handle = self.store.get(name, default=None, read=True)
        if handle is None:
            return None
        if isinstance(handle, bytes):
            data = unseal(handle)
        else:
            with handle:
                # Digest and bytes read apart: the part is not copied out of a larger buffer.
                data = checked(handle.read(DIGEST), handle.read())
        if data is None:
            self.corrupt += 1
            log.warning("disk cache part damaged, fetched again", extra={"part": name})
            with self.index:
                self.store.delete(name)
        return data

    async def write(self, key: Hashable, data: bytes) -> None:
        """Keep the part on disk, in the background: the caller waits only while
        PENDING_WRITES are already waiting."""
        name = disk_key(key)
        if name is None or not data:
            return
        while self.active and len(self.writes) >= PENDING_WRITES:
            await asyncio.wait(set(self.writes), return_when=asyncio.FIRST_COMPLETED)
        if not self.active:
            return
        future = asyncio.ensure_future(self._write(name[0], name[1], data))
        self.writes.add(future)
        future.add_done_callback(self.writes.discard)

    async def _write(self, name: str, media_id: int, data: bytes) -> None:
        try:
            evicted = await self._run(lambda: self._store(name, media_id, data))
        except diskcache.Timeout:
            self.skipped_writes += 1
            return
        except DISK_ERRORS as exc:
            self._degrade("write", exc)
            return
        self.bytes_written += len(data)
        self.evictions += evicted

    def _store(self, name: str, media_id: int, data: bytes) -> int:
        """Write one part; how many parts the size limit evicted to make room."""
        sealed = io.BytesIO(seal(data))
        # One transaction: the count before and after is this write's own doing, even with
        # another process writing to the same directory.
        with self.index, self.store.transact():
            before = len(self.store)
            replaced = name in self.store
            self.store.set(name, sealed, read=True, tag=media_id)
            after = len(self.store)
        self.used = int(self.store.volume())
        return max(0, before + (0 if replaced else 1) - after)

    def forget(self, media_id: int) -> None:
        """Drop every part of a file that is gone, in the background."""
        if not self.active:
            return

        async def evict() -> None:
            try:
                await self._run(lambda: self._evict(media_id))
            except diskcache.Timeout:
                return
            except DISK_ERRORS as exc:
                self._degrade("evict", exc)

        future = asyncio.ensure_future(evict())
        self.writes.add(future)
        future.add_done_callback(self.writes.discard)

    def _evict(self, media_id: int) -> None:
        with self.index:
            self.store.evict(media_id)

    async def close(self) -> None:
        """Finish the writes under way, then close the store."""
        if self.writes:
            await asyncio.gather(*list(self.writes), return_exceptions=True)
        if self.pool is not None:
            pool, self.pool = self.pool, None
            if self.store is not None:
                await asyncio.get_running_loop().run_in_executor(pool, self.store.close)
            pool.shutdown(wait=True)
        if self.state == "on":
            self.state = "off"
