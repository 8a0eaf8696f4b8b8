"""The control API (HTTP/JSON): configuration, files, counters and faults.

The contract is in shared/design/brief.md; outside checks rely on these names.  Bad input is
answered with a 4xx JSON error, never a 500.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, BinaryIO

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from pyrogram.raw import types
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import tl
from .faults import FaultsUpdate
from .media import KINDS, bot_api_file_id, find_file, ingest
from .messaging import (
    Channel,
    StoredMessage,
    bot_api_channel_id,
    channel_box,
    markup_json,
    urls_of,
    user_box,
)
from .server import Emulator
from .store import BOT_ID_BASE, StoredFile, User

_CHUNK = 1 << 20


class TextMessage(BaseModel):
    text: str = Field(min_length=1, max_length=4096)
    bot_id: int | None = None


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


def create_control_app(emu: Emulator) -> FastAPI:
    app = FastAPI(title="tgemu control API", version="1", docs_url=None, redoc_url=None)

    @app.exception_handler(ControlError)
    async def control_error(request: Request, exc: ControlError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg"))}
            for e in exc.errors()
        ]
        return JSONResponse({"error": "invalid request", "details": details}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/config")
    async def config() -> dict[str, Any]:
        return emu.config_json()

    def check_dc(dc_id: int) -> None:
        if dc_id not in emu.dc_ids:
            raise ControlError(400, f"dc_id must be one of {emu.dc_ids}")

    def store_upload(
        file: UploadFile,
        dc_id: int,
        file_name: str | None,
        mime_type: str | None,
        kind: str,
        declared_size: int | None = None,
    ) -> Any:
        check_dc(dc_id)
        if kind not in KINDS:
            raise ControlError(400, f"kind must be one of {', '.join(KINDS)}")
        try:
            return ingest(
                emu.store,
                _chunks(file.file),
                dc_id,
                file_name or file.filename,
                mime_type or None,
                kind,
                declared_size,
            )
        except ValueError as exc:
            raise ControlError(400, str(exc)) from None

    @app.post("/files")
    def post_file(
        file: Annotated[UploadFile, File()],
        dc_id: Annotated[int, Form()],
        file_name: Annotated[str | None, Form()] = None,
        mime_type: Annotated[str | None, Form()] = None,
        kind: Annotated[str, Form()] = "document",
    ) -> dict[str, Any]:
        stored = store_upload(file, dc_id, file_name, mime_type, kind)
        return {
            "file_id": bot_api_file_id(stored),
            "dc_id": stored.dc,
            "size": stored.size,
            "id": stored.id,
            "access_hash": stored.access_hash,
            "file_reference": stored.file_reference.hex(),
            "mime_type": stored.mime_type,
            "file_name": stored.name,
        }

    @app.delete("/files/{file_id}")
    def delete_file(file_id: str) -> dict[str, Any]:
        """Storage loses the file: getFile answers FILE_ID_INVALID, messages still name it.

        `file_id` is the numeric id or the Bot-API file_id that POST /files answered.
        """
        stored = find_file(emu.store, file_id)
        if stored is None or stored.gone:
            raise ControlError(404, f"no file {file_id}")
        emu.store.delete_file(stored)
        return {"id": stored.id, "dc_id": stored.dc, "gone": True}

    def bot_for(bot_id: int | None) -> User:
        if bot_id is None:
            if not emu.bots:
                raise ControlError(409, "the emulator has no bots")
            return emu.bots[0]
        for bot in emu.bots:
            if bot.id == bot_id:
                return bot
        raise ControlError(404, f"no bot with id {bot_id}")

    def human(user_id: int) -> User:
        if not 0 < user_id < BOT_ID_BASE:
            raise ControlError(400, f"user_id must be between 1 and {BOT_ID_BASE - 1}")
        return emu.store.ensure_user(user_id)

    def private_message(
        user: User, bot: User, text: str, file: StoredFile | None, entities: bytes | None
    ) -> int:
        messaging = emu.messaging
        msg = messaging.add(
            user_box(bot.id),
            f"u:{user.id}",
            from_id=user.id,
            out=False,
            text=text,
            file=file,
            entities=entities,
        )
        messaging.new_message(msg)
        return msg.id

    @app.post("/users/{user_id}/documents")
    def user_sends_document(
        user_id: int,
        file: Annotated[UploadFile, File()],
        dc_id: Annotated[int, Form()],
        file_name: Annotated[str | None, Form()] = None,
        mime_type: Annotated[str | None, Form()] = None,
        kind: Annotated[str, Form()] = "document",
        caption: Annotated[str, Form(max_length=1024)] = "",
        bot_id: Annotated[int | None, Form()] = None,
        declared_size: Annotated[int | None, Form()] = None,
    ) -> dict[str, Any]:
        user = human(user_id)
        bot = bot_for(bot_id)
        stored = store_upload(file, dc_id, file_name, mime_type, kind, declared_size)
        message_id = private_message(user, bot, caption, stored, None)
        return {
            "message_id": message_id,
            "dc_id": stored.dc,
            "size": stored.size,
            "file_id": bot_api_file_id(stored),
            "bot_id": bot.id,
        }

    @app.post("/users/{user_id}/messages")
    def user_sends_text(user_id: int, body: TextMessage) -> dict[str, Any]:
        user = human(user_id)
        bot = bot_for(body.bot_id)
        entities = None
        command = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", body.text)
        if command:
            # Telegram marks a leading /command with a bot_command entity.
            entities = tl.write(
                [types.MessageEntityBotCommand(offset=0, length=len(command.group(0)))]
            )
        message_id = private_message(user, bot, body.text, None, entities)
        return {"message_id": message_id, "bot_id": bot.id}

    @app.get("/users/{user_id}/messages")
    def messages_to_user(user_id: int) -> list[dict[str, Any]]:
        if user_id not in emu.store.users or emu.store.users[user_id].is_bot:
            raise ControlError(404, f"no user {user_id}")
        result = []
        for msg in emu.messaging.sent_to_user(user_id):
            result.append(
                {
                    "id": msg.id,
                    "bot_id": int(msg.box[2:]),
                    "date": msg.date,
                    "text": msg.text,
                    "urls": urls_of(msg),
                    "reply_markup": markup_json(msg),
                    "has_media": msg.file_id is not None,
                    "reply_to": msg.reply_to,
                }
            )
        return result

    def channel_for(channel_id: int) -> Channel:
        channel = emu.messaging.channels.get(bare_channel_id(channel_id))
        if channel is None:
            raise ControlError(404, f"no channel {channel_id}")
        return channel

    @app.post("/channels/{channel_id}/documents")
    def channel_post(
        channel_id: int,
        file: Annotated[UploadFile, File()],
        dc_id: Annotated[int, Form()],
        file_name: Annotated[str | None, Form()] = None,
        mime_type: Annotated[str | None, Form()] = None,
        kind: Annotated[str, Form()] = "document",
        caption: Annotated[str, Form(max_length=1024)] = "",
        declared_size: Annotated[int | None, Form()] = None,
    ) -> dict[str, Any]:
        channel = channel_for(channel_id)
        stored = store_upload(file, dc_id, file_name, mime_type, kind, declared_size)
        messaging = emu.messaging
        msg = messaging.add(
            channel_box(channel.id),
            f"c:{channel.id}",
            from_id=None,
            out=False,
            text=caption,
            file=stored,
        )
        messaging.new_message(msg)
        return {
            "message_id": msg.id,
            "dc_id": stored.dc,
            "size": stored.size,
            "file_id": bot_api_file_id(stored),
        }

    def channel_message_json(msg: StoredMessage) -> dict[str, Any]:
        stored = emu.store.files.get(msg.file_id) if msg.file_id else None
        return {
            "id": msg.id,
            "text": msg.text,
            "urls": urls_of(msg),
            "reply_markup": markup_json(msg),
            "file": None
            if stored is None
            else {
                "id": stored.id,
                "dc_id": stored.dc,
                "size": stored.size,
                "name": stored.name,
                "gone": stored.gone,
            },
        }

    @app.get("/channels/{channel_id}/messages")
    def channel_messages(channel_id: int) -> list[dict[str, Any]]:
        """Every message in the channel, oldest first."""
        bare = bare_channel_id(channel_id)
        if bare not in emu.messaging.channels:
            raise ControlError(404, f"no channel {channel_id}")
        return [channel_message_json(msg) for msg in emu.messaging.in_box(channel_box(bare))]

    @app.get("/channels/{channel_id}/messages/{message_id}")
    def channel_message(channel_id: int, message_id: int) -> dict[str, Any]:
        msg = emu.messaging.get(channel_box(bare_channel_id(channel_id)), message_id)
        if msg is None:
            raise ControlError(404, f"no message {message_id} in channel {channel_id}")
        return channel_message_json(msg)

    @app.delete("/channels/{channel_id}/messages/{message_id}")
    def delete_channel_message(channel_id: int, message_id: int) -> dict[str, Any]:
        """An admin deletes the message: getMessages answers messageEmpty, members are told."""
        channel = channel_for(channel_id)
        msg = emu.messaging.get(channel_box(channel.id), message_id)
        if msg is None:
            raise ControlError(404, f"no message {message_id} in channel {channel_id}")
        pts = emu.messaging.delete_message(msg)
        return {"channel_id": bot_api_channel_id(channel.id), "deleted": [message_id], "pts": pts}

    def membership(channel_id: int, user_id: int, member: bool) -> dict[str, Any]:
        channel = channel_for(channel_id)
        if user_id not in emu.store.users:
            raise ControlError(404, f"no user {user_id}")
        emu.messaging.set_member(channel.id, user_id, member)
        return {"channel_id": bot_api_channel_id(channel.id), "user_id": user_id, "member": member}

    @app.delete("/channels/{channel_id}/members/{user_id}")
    def remove_member(channel_id: int, user_id: int) -> dict[str, Any]:
        """The account leaves the channel: every call naming it answers CHANNEL_PRIVATE."""
        return membership(channel_id, user_id, member=False)

    @app.put("/channels/{channel_id}/members/{user_id}")
    def add_member(channel_id: int, user_id: int) -> dict[str, Any]:
        """The account is (again) an admin of the channel."""
        return membership(channel_id, user_id, member=True)

    @app.get("/stats")
    async def stats() -> dict[str, Any]:
        return emu.stats.snapshot()

    @app.post("/stats/reset")
    async def stats_reset() -> dict[str, Any]:
        emu.stats.reset()
        return emu.stats.snapshot()

    @app.get("/faults")
    async def get_faults() -> dict[str, Any]:
        return emu.faults.snapshot()

    @app.post("/faults")
    async def post_faults(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise ControlError(400, "body must be JSON") from None
        try:
            update = FaultsUpdate.model_validate(body)
            merged = emu.faults.merge_dcs(update.dcs or {})
        except (ValidationError, ValueError) as exc:
            raise ControlError(400, _one_line(exc)) from None
        for dc in update.revoke_authorizations or []:
            check_dc(dc)
        for rule in update.rpc_errors or []:
            if rule.dc is not None:
                check_dc(rule.dc)
        faults = emu.faults
        for dc, settings in merged.items():
            was_down = faults.dcs[dc].down
            faults.dcs[dc] = settings
            if settings.down != was_down:
                await emu.set_down(dc, settings.down)
        if "account_bandwidth_bps" in update.model_fields_set:
            faults.account_bandwidth_bps = update.account_bandwidth_bps
            faults.account_buckets.clear()
        if update.flood_waits is not None:
            faults.flood_waits.extend(update.flood_waits)
        if update.rpc_errors is not None:
            faults.rpc_errors.extend(update.rpc_errors)
        if update.rotate_file_references:
            emu.store.rotate_references()
            faults.reference_rotations += 1
        for dc in update.revoke_authorizations or []:
            emu.revoke_authorizations(dc)
        return faults.snapshot()

    @app.delete("/faults")
    async def delete_faults() -> dict[str, Any]:
        for dc, settings in emu.faults.dcs.items():
            if settings.down:
                await emu.set_down(dc, False)
        emu.faults.clear()
        return emu.faults.snapshot()

    return app


def bare_channel_id(channel_id: int) -> int:
    """A channel id as TL carries it, from either that form or the Bot API's -100… form."""
    return -channel_id - 1_000_000_000_000 if channel_id < 0 else channel_id


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return str(exc)
