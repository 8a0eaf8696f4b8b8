"""messages.*: sending, copying, forwarding and editing, as a bot does them."""

from __future__ import annotations

import time
from typing import Any

from pyrogram.raw import functions, types
from pyrogram.raw.core import BoolTrue

from .. import tl
from ..messaging import StoredMessage
from ..store import StoredFile
from .chats import box_for, resolve_peer
from .context import CallContext, RpcError
from .methods import Methods

methods = Methods()

MAX_TEXT = 4096
MAX_CAPTION = 1024


def _can_write(ctx: CallContext, kind: str, target: Any) -> None:
    me = ctx.require_user()
    if kind == "u" and target.id != me.id:
        # A bot may only write to users who have started a chat with it.
        rows = ctx.world.store.query(
            "SELECT 1 FROM messages WHERE box = ? AND peer = ? AND out = 0 LIMIT 1",
            (f"u:{me.id}", f"u:{target.id}"),
        )
        if not rows:
            raise RpcError(400, "PEER_ID_INVALID")


def _entities(query: Any) -> bytes | None:
    return tl.write(list(query.entities)) if getattr(query, "entities", None) else None


def _markup(query: Any) -> bytes | None:
    markup = getattr(query, "reply_markup", None)
    return tl.write(markup) if markup is not None else None


def _reply_to(query: Any) -> int | None:
    reply = getattr(query, "reply_to", None)
    return getattr(reply, "reply_to_msg_id", None) if reply is not None else None


def _extras(query: Any) -> tuple[bytes | None, int | None, bytes | None]:
    return _entities(query), _reply_to(query), _markup(query)


def _result(ctx: CallContext, sent: list[tuple[StoredMessage, int, int]]) -> Any:
    """Updates for the sender: updateMessageID per random_id, then the new messages."""
    messaging = ctx.world.messaging
    me = ctx.require_user()
    updates: list[Any] = []
    for msg, _, random_id in sent:
        updates.append(types.UpdateMessageID(id=msg.id, random_id=random_id))
    for msg, pts, _ in sent:
        message = messaging.message_tl(msg)
        if msg.peer_kind == "c":
            updates.append(types.UpdateNewChannelMessage(message=message, pts=pts, pts_count=1))
        else:
            updates.append(types.UpdateNewMessage(message=message, pts=pts, pts_count=1))
    users, chats = messaging.peers_of([m for m, _, _ in sent], me)
    return types.Updates(updates=updates, users=users, chats=chats, date=int(time.time()), seq=0)


def _send(
    ctx: CallContext,
    peer: Any,
    text: str,
    random_id: int,
    file: StoredFile | None,
    extras: tuple[bytes | None, int | None, bytes | None],
    fwd: dict[str, Any] | None = None,
) -> tuple[StoredMessage, int, int]:
    """Post one message; `extras` = (entities, reply_to id, reply_markup) in TL form."""
    me = ctx.require_user()
    kind, target = resolve_peer(ctx, peer)
    _can_write(ctx, kind, target)
    box, peer_key = box_for(ctx, kind, target)
    messaging = ctx.world.messaging
    msg = messaging.add(
        box,
        peer_key,
        from_id=me.id,
        out=True,
        text=text,
        file=file,
        entities=extras[0],
        reply_to=extras[1],
        reply_markup=extras[2],
        fwd=fwd,
    )
    pts = messaging.new_message(msg)
    return msg, pts, random_id


@methods.register(functions.messages.SendMessage)
async def send_message(ctx: CallContext, query: Any) -> Any:
    if not query.message.strip():
        raise RpcError(400, "MESSAGE_EMPTY")
    if len(query.message) > MAX_TEXT:
        raise RpcError(400, "MESSAGE_TOO_LONG")
    sent = _send(ctx, query.peer, query.message, query.random_id, None, _extras(query))
    return _result(ctx, [sent])


def _input_file(ctx: CallContext, media: Any) -> StoredFile:
    if isinstance(media, types.InputMediaDocument):
        ref, want_photo = media.id, False
    elif isinstance(media, types.InputMediaPhoto):
        ref, want_photo = media.id, True
    else:
        # Uploading is not emulated: files enter through the control API.
        raise RpcError(400, "MEDIA_INVALID")
    stored = ctx.world.store.files.get(getattr(ref, "id", -1))
    if stored is None or stored.gone or stored.access_hash != getattr(ref, "access_hash", None):
        raise RpcError(400, "MEDIA_INVALID")
    if (stored.kind == "photo") != want_photo:
        raise RpcError(400, "MEDIA_INVALID")
    if ref.file_reference != stored.file_reference:
        ctx.world.stats.bump(ctx.dc, "file_reference_expired")
        raise RpcError(400, "FILE_REFERENCE_EXPIRED")
    return stored


@methods.register(functions.messages.SendMedia)
async def send_media(ctx: CallContext, query: Any) -> Any:
    stored = _input_file(ctx, query.media)
    if len(query.message) > MAX_CAPTION:
        raise RpcError(400, "MEDIA_CAPTION_TOO_LONG")
    sent = _send(ctx, query.peer, query.message, query.random_id, stored, _extras(query))
    return _result(ctx, [sent])


@methods.register(functions.messages.ForwardMessages)
async def forward_messages(ctx: CallContext, query: Any) -> Any:
    if len(query.id) != len(query.random_id) or not query.id:
        raise RpcError(400, "RANDOM_ID_INVALID")
    kind, source = resolve_peer(ctx, query.from_peer)
    box, _ = box_for(ctx, kind, source)
    messaging = ctx.world.messaging
    sent = []
    for message_id, random_id in zip(query.id, query.random_id, strict=True):
        original = messaging.get(box, message_id)
        if original is None:
            raise RpcError(400, "MESSAGE_ID_INVALID")
        file = ctx.world.store.files.get(original.file_id) if original.file_id else None
        fwd = None
        if not query.drop_author:
            author = f"c:{source.id}" if kind == "c" else f"u:{original.from_id or source.id}"
            fwd = {
                "date": original.date,
                "from": author,
                "channel_post": original.id if kind == "c" else None,
            }
        # Text and entities travel with a forward; buttons and the reply link do not.
        extras = (original.entities, None, None)
        sent.append(_send(ctx, query.to_peer, original.text, random_id, file, extras, fwd))
    return _result(ctx, sent)


@methods.register(functions.messages.EditMessage)
async def edit_message(ctx: CallContext, query: Any) -> Any:
    me = ctx.require_user()
    kind, target = resolve_peer(ctx, query.peer)
    box, _ = box_for(ctx, kind, target)
    messaging = ctx.world.messaging
    msg = messaging.get(box, query.id)
    if msg is None:
        raise RpcError(400, "MESSAGE_ID_INVALID")
    # In private chats a bot edits only its own messages; in a channel it administers, any.
    if kind == "u" and not msg.out:
        raise RpcError(403, "MESSAGE_AUTHOR_REQUIRED")
    before = (msg.text, msg.entities, msg.reply_markup, msg.file_id)
    if query.message is not None:
        msg.text = query.message
        msg.entities = _entities(query)
    if query.reply_markup is not None:
        msg.reply_markup = _markup(query)
    if query.media is not None:
        msg.file_id = _input_file(ctx, query.media).id
    if (msg.text, msg.entities, msg.reply_markup, msg.file_id) == before:
        raise RpcError(400, "MESSAGE_NOT_MODIFIED")
    pts = messaging.edit_message(msg)
    messaging.push(msg, pts, edited=True)
    message = messaging.message_tl(msg)
    update: Any = (
        types.UpdateEditChannelMessage(message=message, pts=pts, pts_count=1)
        if kind == "c"
        else types.UpdateEditMessage(message=message, pts=pts, pts_count=1)
    )
    users, chats = messaging.peers_of([msg], me)
    return types.Updates(updates=[update], users=users, chats=chats, date=int(time.time()), seq=0)


@methods.register(functions.messages.GetMessages)
async def get_messages(ctx: CallContext, query: Any) -> Any:
    me = ctx.require_user()
    messaging = ctx.world.messaging
    found, views = collect(ctx, f"u:{me.id}", query.id)
    users, chats = messaging.peers_of(found, me)
    return types.messages.Messages(messages=views, topics=[], chats=chats, users=users)


def collect(ctx: CallContext, box: str, ids: list[Any]) -> tuple[list[StoredMessage], list[Any]]:
    messaging = ctx.world.messaging
    found: list[StoredMessage] = []
    views: list[Any] = []
    for wanted in ids:
        message_id = getattr(wanted, "id", None)
        if isinstance(wanted, types.InputMessageReplyTo) and isinstance(message_id, int):
            # Not that message: the one it replies to (what clients fetch a reply's parent by).
            replying = messaging.get(box, message_id)
            message_id = replying.reply_to if replying is not None else None
        msg = messaging.get(box, message_id) if isinstance(message_id, int) else None
        if msg is None:
            views.append(types.MessageEmpty(id=message_id or 0))
        else:
            found.append(msg)
            views.append(messaging.message_tl(msg))
    return found, views


@methods.register(functions.messages.SetTyping)
async def set_typing(ctx: CallContext, query: Any) -> Any:
    resolve_peer(ctx, query.peer)
    return BoolTrue()
