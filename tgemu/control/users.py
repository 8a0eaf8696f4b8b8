"""/users/{user_id}/...: a person writing to a bot, and what bots sent that person."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import BaseModel, Field
from pyrogram.raw import types

from .. import tl
from ..media import bot_api_file_id, thumb_json
from ..messaging import markup_json, urls_of, user_box
from ..server import Emulator
from ..store import BOT_ID_BASE, StoredFile, User
from .deps import EmulatorDep, store_upload
from .errors import ControlError

router = APIRouter()
# Telegram marks a leading /command (optionally @botname) with a bot_command entity.
_COMMAND = re.compile(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?")


class TextMessage(BaseModel):
    text: str = Field(min_length=1, max_length=4096)
    bot_id: int | None = None
    # The id (in the bot's chat with this user) of the message this one replies to.
    reply_to: int | None = Field(default=None, ge=1)


def _bot(emu: Emulator, bot_id: int | None) -> User:
    bots = emu.world.bots
    if bot_id is None:
        if not bots:
            raise ControlError(409, "the emulator has no bots")
        return bots[0]
    for bot in bots:
        if bot.id == bot_id:
            return bot
    raise ControlError(404, f"no bot with id {bot_id}")


def _human(emu: Emulator, user_id: int) -> User:
    if not 0 < user_id < BOT_ID_BASE:
        raise ControlError(400, f"user_id must be between 1 and {BOT_ID_BASE - 1}")
    return emu.world.store.ensure_user(user_id)


def _private_message(
    emu: Emulator,
    user: User,
    bot: User,
    text: str,
    file: StoredFile | None,
    entities: bytes | None,
    reply_to: int | None = None,
) -> int:
    messaging = emu.world.messaging
    if reply_to is not None:
        # Telegram lets a message reply only to one in the same chat.
        replied = messaging.get(user_box(bot.id), reply_to)
        if replied is None or replied.peer != f"u:{user.id}":
            raise ControlError(400, f"no message {reply_to} in this user's chat with the bot")
    msg = messaging.add(
        user_box(bot.id),
        f"u:{user.id}",
        from_id=user.id,
        out=False,
        text=text,
        file=file,
        entities=entities,
        reply_to=reply_to,
    )
    messaging.new_message(msg)
    return msg.id


@router.post("/users/{user_id}/documents")
def user_sends_document(
    emu: EmulatorDep,
    user_id: int,
    file: Annotated[UploadFile, File()],
    dc_id: Annotated[int, Form()],
    file_name: Annotated[str | None, Form()] = None,
    mime_type: Annotated[str | None, Form()] = None,
    kind: Annotated[str, Form()] = "document",
    caption: Annotated[str, Form(max_length=1024)] = "",
    bot_id: Annotated[int | None, Form()] = None,
    declared_size: Annotated[int | None, Form()] = None,
    thumb: Annotated[UploadFile | None, File()] = None,
) -> dict[str, Any]:
    user = _human(emu, user_id)
    bot = _bot(emu, bot_id)
    stored = store_upload(emu, file, dc_id, file_name, mime_type, kind, declared_size, thumb)
    message_id = _private_message(emu, user, bot, caption, stored, None)
    return {
        "message_id": message_id,
        "dc_id": stored.dc,
        "size": stored.size,
        "file_id": bot_api_file_id(stored),
        "thumb": thumb_json(stored),
        "bot_id": bot.id,
    }


@router.post("/users/{user_id}/messages")
def user_sends_text(emu: EmulatorDep, user_id: int, body: TextMessage) -> dict[str, Any]:
    user = _human(emu, user_id)
    bot = _bot(emu, body.bot_id)
    entities = None
    command = _COMMAND.match(body.text)
    if command:
        entities = tl.write([types.MessageEntityBotCommand(offset=0, length=len(command.group(0)))])
    message_id = _private_message(emu, user, bot, body.text, None, entities, body.reply_to)
    return {"message_id": message_id, "bot_id": bot.id}


@router.get("/users/{user_id}/messages")
def messages_to_user(emu: EmulatorDep, user_id: int) -> list[dict[str, Any]]:
    world = emu.world
    if user_id not in world.store.users or world.store.users[user_id].is_bot:
        raise ControlError(404, f"no user {user_id}")
    return [
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
        for msg in world.messaging.sent_to_user(user_id)
    ]
