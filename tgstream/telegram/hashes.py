"""Telegram's SHA-256 ranges of files (upload.getFileHashes), asked for once per range.

One call answers several consecutive ranges (eight of 128 KiB from Telegram), so most parts
find theirs already known; parts asking for the same stretch of a file at once share one
call.  The ranges live in a bounded HashBook (hash_ranges.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ..store import FileInfo
from .hash_ranges import MAX_REQUEST, Coverage, HashBook, HashRange

# 32768 ranges of 128 KiB: the hashes of 4 GiB of files, about 6 MB of memory.
MAX_RANGES = 32768

# (file, position, urgent): urgent when a viewer waits on it (a stream's first part).
AskHashes = Callable[[FileInfo, int, bool], Awaitable[list[HashRange]]]


class FileHashes:
    def __init__(self, ask: AskHashes, max_ranges: int = MAX_RANGES) -> None:
        self.ask = ask
        self.book = HashBook(max_ranges)
        # (media id, 1 MiB block) -> the call under way for a position in that block, and
        # whether it was asked urgently.
        self.pending: dict[tuple[int, int], tuple[asyncio.Future[None], bool]] = {}

    async def coverage(
        self, info: FileInfo, start: int, stop: int, urgent: bool = False
    ) -> Coverage:
        """The ranges covering bytes [start, stop) of the file, asked for as needed.  A part
        a viewer waits on (`urgent`) cannot be served before its hashes, so they are asked
        for as urgently as the part itself: behind the bulk parts, they would hold it."""
        while True:
            found = self.book.coverage(info.media_id, start, stop)
            if isinstance(found, Coverage):
                return found
            await self._learn(info, found, urgent)

    def forget(self, media_id: int) -> None:
        self.book.forget(media_id)

    async def _learn(self, info: FileInfo, position: int, urgent: bool) -> None:
        key = (info.media_id, position // MAX_REQUEST)
        pending = self.pending.get(key)
        # A call already answered (its entry goes in a callback still queued) did not hold
        # this position, or the caller would have found it: never wait on it again.
        # Awaiting a finished future does not yield, so the caller would look again and
        # again with the loop never turning to that callback: the whole server stalls.
        if pending is not None and not pending[0].done() and (pending[1] or not urgent):
            # Another part is asking about this stretch, at least as urgently: its answer
            # likely covers this position too (the caller looks again either way).
            await asyncio.shield(pending[0])
            return
        # Nobody asks, or only a bulk part whose call may still wait behind other bulk
        # parts: a viewer waiting on this one must not wait for it.
        future = asyncio.ensure_future(self._ask(info, position, urgent))
        self.pending[key] = (future, urgent)
        future.add_done_callback(lambda _: self._done(key, future))
        await asyncio.shield(future)

    def _done(self, key: tuple[int, int], future: asyncio.Future[None]) -> None:
        pending = self.pending.get(key)
        if pending is not None and pending[0] is future:
            del self.pending[key]

    async def _ask(self, info: FileInfo, position: int, urgent: bool) -> None:
        self.book.add(info.media_id, await self.ask(info, position, urgent), position)
