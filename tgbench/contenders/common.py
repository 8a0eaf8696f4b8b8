"""What both baselines share: a Kurigram bot client from the same environment tgstream reads,
a minimal Range parser as such bots carry, and the FastAPI app around one download route.

Only the emulator wiring (DC addresses and RSA key) comes from tgstream; everything that
decides speed lives in each baseline's own module.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from pyrogram import Client, raw
from pyrogram.file_id import FileId

from tgstream.telegram.network import (
    connection_factory,
    parse_dc_addresses,
    read_rsa_public_key,
    trust_rsa_key,
)

CHUNK = 1024 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class Media:
    file_id: str
    size: int
    mime_type: str
    message: Any  # the Kurigram Message it came from


def make_client(
    name: str, env: Mapping[str, str] = os.environ, *, in_memory: bool = False
) -> Client:
    """A bot client from tgstream's settings in `env` (the contender's own environment);
    `in_memory` keeps its session off the disk, so each start signs the bot in anew."""
    kwargs: dict[str, Any] = {}
    # Parsed exactly as tgstream parses them, so every contender dials the same DCs.
    if env.get("TG_DC_ADDRESSES"):
        addresses = parse_dc_addresses(env["TG_DC_ADDRESSES"])
        kwargs["connection_factory"] = connection_factory(addresses)
    if env.get("TG_RSA_PUBLIC_KEY"):
        trust_rsa_key(read_rsa_public_key(env["TG_RSA_PUBLIC_KEY"]))
    return Client(
        name,
        api_id=int(env["API_ID"]),
        api_hash=env["API_HASH"],
        bot_token=env["BOT_TOKEN"],
        workdir=str(Path(env["SESSION_DIR"])),
        no_updates=True,
        in_memory=in_memory,
        **kwargs,
    )


def document_location(file_id: str) -> Any:
    """The InputDocumentFileLocation a Bot-API file_id names."""
    decoded = FileId.decode(file_id)
    location = raw.types.InputDocumentFileLocation(
        id=decoded.media_id,
        access_hash=decoded.access_hash,
        file_reference=decoded.file_reference,
        thumb_size="",
    )
    return location


def bin_channel() -> int:
    return int(os.environ["BIN_CHANNEL"])


def media_of(message: Any) -> Media:
    media = message.document or message.video or message.audio
    if media is None:
        raise LookupError("no file in that message")
    mime = media.mime_type or "application/octet-stream"
    return Media(media.file_id, int(media.file_size), mime, message)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of a single byte range, or None for the whole file."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        raise ValueError(header)
    first, last = match.groups()
    if first == "":
        return max(0, size - int(last)), size - 1
    return int(first), min(int(last), size - 1) if last else size - 1


Body = Callable[[Media, int, int], AsyncIterator[bytes]]
Lookup = Callable[[int], Awaitable[Media]]


def make_app(client: Client, lookup: Lookup, body: Body) -> FastAPI:
    """GET /dl/{message_id} with single-range support, as the bots being reproduced have."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await client.start()
        yield
        await client.stop()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    @app.get("/readyz")
    async def healthz() -> dict[str, bool]:
        # Started before serving: alive is ready.
        return {"ok": client.is_connected}

    @app.get("/dl/{message_id}")
    async def download(message_id: int, request: Request) -> Response:
        media = await lookup(message_id)
        try:
            span = parse_range(request.headers.get("range"), media.size)
        except ValueError:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{media.size}"})
        first, last = span or (0, media.size - 1)
        if first > last:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{media.size}"})
        headers = {"Content-Length": str(last - first + 1), "Accept-Ranges": "bytes"}
        if span is not None:
            headers["Content-Range"] = f"bytes {first}-{last}/{media.size}"
        return StreamingResponse(
            body(media, first, last),
            status_code=206 if span is not None else 200,
            media_type=media.mime_type,
            headers=headers,
        )

    return app


def serve(app: FastAPI) -> None:
    import uvicorn

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(os.environ["PORT"]),
        log_level="warning",
        access_log=False,
    )
