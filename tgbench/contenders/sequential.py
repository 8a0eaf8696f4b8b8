"""Baseline "sequential": the approach of TG-FileStreamBot's Python branch.

File properties are cached per message; one media session per DC is created on first use
(auth export/import) and kept; the body is read with one 1 MiB upload.getFile in flight at a
time, the first and last chunk cut to the requested range.  Sessions are not persisted, so a
restart builds them again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from pyrogram import raw
from pyrogram.file_id import FileId
from pyrogram.session import Session

from .common import (
    CHUNK,
    Media,
    bin_channel,
    document_location,
    make_app,
    make_client,
    media_of,
    serve,
)

client = make_client("sequential")
_properties: dict[int, Media] = {}


async def lookup(message_id: int) -> Media:
    media = _properties.get(message_id)
    if media is None:
        media = _properties[message_id] = media_of(
            await client.get_messages(bin_channel(), message_id)
        )
    return media


async def _media_session(dc_id: int) -> Session:
    # Kurigram keeps one media session per DC in the client, created on first use.
    session: Session = await client.get_session(dc_id, is_media=True)
    return session


async def body(media: Media, first: int, last: int) -> AsyncIterator[bytes]:
    location = document_location(media.file_id)
    session = await _media_session(FileId.decode(media.file_id).dc_id)
    offset = first - first % CHUNK
    skip = first - offset
    remaining = last - first + 1
    while remaining > 0:
        result = await session.invoke(
            raw.functions.upload.GetFile(location=location, offset=offset, limit=CHUNK)
        )
        chunk = bytes(result.bytes)
        if not chunk:
            return
        piece = chunk[skip : skip + remaining]
        skip = 0
        remaining -= len(piece)
        offset += CHUNK
        yield piece


app = make_app(client, lookup, body)

if __name__ == "__main__":
    serve(app)
