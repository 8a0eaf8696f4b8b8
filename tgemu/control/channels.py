"""/channels/{channel_id}/...: posts, their deletion, and who is a member."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile

from ..media import bot_api_file_id, thumb_json
from ..messaging import (
    Channel,
    StoredMessage,
    bot_api_channel_id,
    channel_box,
    markup_json,
    urls_of,
)
from ..server import Emulator
from .deps import EmulatorDep, store_upload
from .errors import ControlError

router = APIRouter()


def bare_channel_id(channel_id: int) -> int:
    """A channel id as TL carries it, from either that form or the Bot API's -100… form."""
    return -channel_id - 1_000_000_000_000 if channel_id < 0 else channel_id


def _channel(emu: Emulator, channel_id: int) -> Channel:
    channel = emu.world.messaging.channels.get(bare_channel_id(channel_id))
    if channel is None:
        raise ControlError(404, f"no channel {channel_id}")
    return channel


def _message_json(emu: Emulator, msg: StoredMessage) -> dict[str, Any]:
    stored = emu.world.store.files.get(msg.file_id) if msg.file_id else None
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


@router.post("/channels/{channel_id}/documents")
def channel_post(
    emu: EmulatorDep,
    channel_id: int,
    file: Annotated[UploadFile, File()],
    dc_id: Annotated[int, Form()],
    file_name: Annotated[str | None, Form()] = None,
    mime_type: Annotated[str | None, Form()] = None,
    kind: Annotated[str, Form()] = "document",
    caption: Annotated[str, Form(max_length=1024)] = "",
    declared_size: Annotated[int | None, Form()] = None,
    thumb: Annotated[UploadFile | None, File()] = None,
) -> dict[str, Any]:
    channel = _channel(emu, channel_id)
    stored = store_upload(emu, file, dc_id, file_name, mime_type, kind, declared_size, thumb)
    messaging = emu.world.messaging
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
        "thumb": thumb_json(stored),
    }


@router.get("/channels/{channel_id}/messages")
def channel_messages(emu: EmulatorDep, channel_id: int) -> list[dict[str, Any]]:
    """Every message in the channel, oldest first."""
    messaging = emu.world.messaging
    bare = bare_channel_id(channel_id)
    if bare not in messaging.channels:
        raise ControlError(404, f"no channel {channel_id}")
    return [_message_json(emu, msg) for msg in messaging.in_box(channel_box(bare))]


@router.get("/channels/{channel_id}/messages/{message_id}")
def channel_message(emu: EmulatorDep, channel_id: int, message_id: int) -> dict[str, Any]:
    msg = emu.world.messaging.get(channel_box(bare_channel_id(channel_id)), message_id)
    if msg is None:
        raise ControlError(404, f"no message {message_id} in channel {channel_id}")
    return _message_json(emu, msg)


@router.delete("/channels/{channel_id}/messages/{message_id}")
def delete_channel_message(emu: EmulatorDep, channel_id: int, message_id: int) -> dict[str, Any]:
    """An admin deletes the message: getMessages answers messageEmpty, members are told."""
    channel = _channel(emu, channel_id)
    messaging = emu.world.messaging
    msg = messaging.get(channel_box(channel.id), message_id)
    if msg is None:
        raise ControlError(404, f"no message {message_id} in channel {channel_id}")
    pts = messaging.delete_message(msg)
    return {"channel_id": bot_api_channel_id(channel.id), "deleted": [message_id], "pts": pts}


def _membership(emu: Emulator, channel_id: int, user_id: int, member: bool) -> dict[str, Any]:
    channel = _channel(emu, channel_id)
    if user_id not in emu.world.store.users:
        raise ControlError(404, f"no user {user_id}")
    emu.world.messaging.set_member(channel.id, user_id, member)
    return {"channel_id": bot_api_channel_id(channel.id), "user_id": user_id, "member": member}


@router.delete("/channels/{channel_id}/members/{user_id}")
def remove_member(emu: EmulatorDep, channel_id: int, user_id: int) -> dict[str, Any]:
    """The account leaves the channel: every call naming it answers CHANNEL_PRIVATE."""
    return _membership(emu, channel_id, user_id, member=False)


@router.put("/channels/{channel_id}/members/{user_id}")
def add_member(emu: EmulatorDep, channel_id: int, user_id: int) -> dict[str, Any]:
    """The account is (again) an admin of the channel."""
    return _membership(emu, channel_id, user_id, member=True)
