"""An in-memory FileSource for the web layer's in-process tests: files by message id, and
the failures Telegram can cause, injected where they happen (resolving, before the first
piece, after some bytes went out)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from tgstream.store import FileInfo
from tgstream.streaming.source import ShorterThanDeclared
from tgstream.telegram.errors import NoThumbnail

PIECE = 16 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_info(
    message_id: int,
    size: int,
    mime_type: str = "video/mp4",
    file_name: str = "clip.mp4",
    date: int = 1_700_000_000,
) -> FileInfo:
    return FileInfo(
        message_id=message_id,
        media_id=0x5EED0000 + message_id,
        access_hash=1,
        file_reference=b"ref",
        dc=4,
        size=size,
        mime_type=mime_type,
        file_name=file_name,
        kind="document",
        thumb_size="",
        date=date,
    )


@dataclass
class Failure:
    """`error` raised by a stream once `after` bytes went out (0: before the first piece)."""

    error: Exception
    after: int = 0


@dataclass
class MemoryFiles:
    infos: dict[int, FileInfo] = field(default_factory=dict)
    data: dict[int, bytes] = field(default_factory=dict)
    resolve_error: Exception | None = None
    resolve_delay: float = 0.0
    first_piece_delay: float = 0.0
    failure: Failure | None = None
    # What the streams did: the ranges asked for, and how many were closed.
    ranges: list[tuple[int, int]] = field(default_factory=list)
    # Whether each was asked for as the whole file without a Range (a download).
    wholes: list[bool] = field(default_factory=list)
    closed: int = 0
    # Thumbnails by message id, and how many times one was asked for.
    thumbs: dict[int, bytes] = field(default_factory=dict)
    thumb_fetches: int = 0

    def add(self, info: FileInfo, data: bytes) -> FileInfo:
        """`info` may declare more bytes than `data` holds: a file Telegram ends early."""
        self.infos[info.message_id] = info
        self.data[info.message_id] = data
        return info

    async def resolve(self, message_id: int) -> FileInfo:
        await asyncio.sleep(self.resolve_delay)
        if self.resolve_error is not None:
            raise self.resolve_error
        return self.infos[message_id]

    async def stream(
        self, info: FileInfo, first: int, last: int, whole: bool = False
    ) -> AsyncGenerator[bytes, None]:
        self.ranges.append((first, last))
        self.wholes.append(whole)
        data = self.data[info.message_id]
        try:
            await asyncio.sleep(self.first_piece_delay)
            if info.size > len(data):
                real = dataclasses.replace(info, size=len(data))
                self.infos[info.message_id] = real
                raise ShorterThanDeclared(real)
            sent = 0
            for at in range(first, last + 1, PIECE):
                if self.failure is not None and sent >= self.failure.after:
                    raise self.failure.error
                piece = data[at : min(at + PIECE, last + 1)]
                yield piece
                sent += len(piece)
        finally:
            self.closed += 1

    async def thumbnail(self, info: FileInfo) -> bytes:
        self.thumb_fetches += 1
        await asyncio.sleep(self.first_piece_delay)
        thumb = self.thumbs.get(info.message_id)
        if thumb is None:
            raise NoThumbnail(f"message {info.message_id} has no thumbnail")
        return thumb
