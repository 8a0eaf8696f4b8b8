"""Bin-channel message id -> the file it holds, cached in memory and in the store.

FILE_REFERENCE_EXPIRED is answered by `refresh`: the message is fetched again (once, however
many streams asked) and its new reference replaces the old one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pyrogram import raw

from ..store import FileInfo, Store
from .bots import BotClient
from .errors import FileGone

_PHOTO_SIZE_ORDER = "sbmxyzwa"


def file_info_from_message(message_id: int, message: Any) -> FileInfo:
    media = getattr(message, "media", None)
    document = getattr(media, "document", None)
    photo = getattr(media, "photo", None)
    if isinstance(document, raw.types.Document):
        name = ""
        for attribute in document.attributes:
            if isinstance(attribute, raw.types.DocumentAttributeFilename):
                name = attribute.file_name
        return FileInfo(
            message_id=message_id,
            media_id=document.id,
            access_hash=document.access_hash,
            file_reference=document.file_reference,
            dc=document.dc_id,
            size=document.size,
            mime_type=document.mime_type or "application/octet-stream",
            file_name=name or f"file-{message_id}",
            kind="document",
            thumb_size="",
            date=document.date,
        )
    if isinstance(photo, raw.types.Photo):
        sizes = [s for s in photo.sizes if isinstance(s, raw.types.PhotoSize)]
        if not sizes:
            raise FileGone(f"message {message_id} has a photo with no downloadable size")
        best = max(sizes, key=lambda s: (s.size, _PHOTO_SIZE_ORDER.find(s.type)))
        return FileInfo(
            message_id=message_id,
            media_id=photo.id,
            access_hash=photo.access_hash,
            file_reference=photo.file_reference,
            dc=photo.dc_id,
            size=best.size,
            mime_type="image/jpeg",
            file_name=f"photo-{message_id}.jpg",
            kind="photo",
            thumb_size=best.type,
            date=photo.date,
        )
    raise FileGone(f"message {message_id} holds no file")


class FileResolver:
    def __init__(self, bot: BotClient, bin_channel: int, store: Store) -> None:
        self.bot = bot
        self.bin_channel = bin_channel
        self.store = store
        self.cache: dict[int, FileInfo] = {}
        self._fetching: dict[int, asyncio.Task[FileInfo]] = {}
        self._channel: Any = None
        self.refreshes = 0

    async def get(self, message_id: int) -> FileInfo:
        info = self.cache.get(message_id)
        if info is None:
            info = self.store.file(message_id)
            if info is None:
                info = await self._fetch_once(message_id)
            self.cache[message_id] = info
        return info

    async def refresh(self, message_id: int, stale: FileInfo) -> FileInfo:
        """A new file_reference for this message, fetched once for all who ask."""
        current = self.cache.get(message_id)
        if current is not None and current.file_reference != stale.file_reference:
            return current  # someone else already refreshed it
        self.refreshes += 1
        info = await self._fetch_once(message_id)
        self.cache[message_id] = info
        return info

    async def _fetch_once(self, message_id: int) -> FileInfo:
        task = self._fetching.get(message_id)
        if task is None:
            task = asyncio.create_task(self._fetch(message_id))
            self._fetching[message_id] = task
            task.add_done_callback(lambda _: self._fetching.pop(message_id, None))
        return await asyncio.shield(task)

    async def _input_channel(self) -> Any:
        if self._channel is None:
            peer = await self.bot.client.resolve_peer(self.bin_channel)
            self._channel = raw.types.InputChannel(
                channel_id=peer.channel_id, access_hash=peer.access_hash
            )
        return self._channel

    async def _fetch(self, message_id: int) -> FileInfo:
        result = await self.bot.client.invoke(
            raw.functions.channels.GetMessages(
                channel=await self._input_channel(),
                id=[raw.types.InputMessageID(id=message_id)],
            )
        )
        messages = [m for m in result.messages if isinstance(m, raw.types.Message)]
        if not messages:
            raise FileGone(f"message {message_id} not found in the bin channel")
        info = file_info_from_message(message_id, messages[0])
        self.store.save_file(info)
        return info
