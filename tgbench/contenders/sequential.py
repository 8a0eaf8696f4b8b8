"""Baseline "sequential": TG-FileStreamBot's Python branch as shipped.

As that bot runs by default (its USE_SESSION_FILE off), the client keeps no session on disk:
every start signs the bot in anew, on a new auth key. A file's properties are cached per
message. The first request for a DC makes that DC's one media session, and only that: on a
DC other than the bot's home, a new auth key, a media connection, then the bot's
authorization exported from home and imported into it (retried on AUTH_BYTES_INVALID); on the
home DC a media connection on the bot's own key, no import. Sessions live in the client, so a
restart builds them again. The body is read with one 1 MiB upload.getFile in flight at a
time, the first and last chunk cut to the requested range.

Where it differs from that bot (see its `reproduces` label in tgbench/lineup.py): Kurigram
for Pyrogram 2.0, FastAPI and uvicorn for aiohttp, no bot plugins or updates; Kurigram's
Session and Auth take the DC's address, which the emulator's DC table gives (Pyrogram 2.0
carried Telegram's own), so no call is made for it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from pyrogram import raw
from pyrogram.errors import AuthBytesInvalid
from pyrogram.file_id import FileId
from pyrogram.session import Auth, Session

from tgstream.telegram.network import parse_dc_addresses

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

# That bot's number of tries at importing an authorization before it gives up on a DC.
IMPORT_TRIES = 6

client = make_client("sequential", in_memory=True)
_properties: dict[int, Media] = {}


async def lookup(message_id: int) -> Media:
    media = _properties.get(message_id)
    if media is None:
        media = _properties[message_id] = media_of(
            await client.get_messages(bin_channel(), message_id)
        )
    return media


async def _address(dc_id: int) -> tuple[str, int]:
    addresses = parse_dc_addresses(os.environ.get("TG_DC_ADDRESSES", ""))
    if dc_id in addresses:
        return addresses[dc_id]
    option: Any = await client.get_dc_option(dc_id, is_media=True)
    return option.ip_address, option.port


async def _media_session(dc_id: int) -> Session:
    """The DC's one media session, made on first use and kept in the client."""
    session: Session | None = client.media_sessions.get(dc_id)
    if session is not None:
        return session
    host, port = await _address(dc_id)
    test_mode = await client.storage.test_mode()
    if dc_id == await client.storage.dc_id():
        home_key = await client.storage.auth_key()
        session = Session(client, dc_id, host, port, home_key, test_mode, is_media=True)
        await session.start()
    else:
        new_key = await Auth(client, dc_id, host, port, test_mode).create()
        session = Session(client, dc_id, host, port, new_key, test_mode, is_media=True)
        await session.start()
        for _ in range(IMPORT_TRIES):
            exported = await client.invoke(raw.functions.auth.ExportAuthorization(dc_id=dc_id))
            try:
                await session.invoke(
                    raw.functions.auth.ImportAuthorization(id=exported.id, bytes=exported.bytes)
                )
            except AuthBytesInvalid:
                continue
            break
        else:
            await session.stop()
            raise AuthBytesInvalid
    client.media_sessions[dc_id] = session
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
