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

AskHashes = Callable[[FileInfo, int], Awaitable[list[HashRange]]]


class FileHashes:
    def __init__(self, ask: AskHashes, max_ranges: int = MAX_RANGES) -> None:
        self.ask = ask
        self.book = HashBook(max_ranges)
        # (media id, 1 MiB block) -> the call under way for a position in that block.
        self.pending: dict[tuple[int, int], asyncio.Future[None]] = {}

    async def coverage(self, info: FileInfo, start: int, stop: int) -> Coverage:
        """The ranges covering bytes [start, stop) of the file, asked for as needed."""
        while True:
            found = self.book.coverage(info.media_id, start, stop)
            if isinstance(found, Coverage):
                return found
            await self._learn(info, found)

    def forget(self, media_id: int) -> None:
        self.book.forget(media_id)

    async def _learn(self, info: FileInfo, position: int) -> None:
        key = (info.media_id, position // MAX_REQUEST)
        pending = self.pending.get(key)
        if pending is not None:
            # Another part is asking about this stretch: its answer likely covers this
            # position too (the caller looks again either way).
            await asyncio.shield(pending)
            return
        pending = asyncio.ensure_future(self._ask(info, position))
        self.pending[key] = pending
        pending.add_done_callback(lambda _: self.pending.pop(key, None))
        await asyncio.shield(pending)

    async def _ask(self, info: FileInfo, position: int) -> None:
        self.book.add(info.media_id, await self.ask(info, position), position)
