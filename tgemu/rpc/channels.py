"""channels.*: what a bot that administers a channel may read."""

from __future__ import annotations

from typing import Any

from pyrogram.raw import functions, types

from ..messaging import channel_box
from . import CallContext, method
from .chats import resolve_channel
from .messages import collect


@method(functions.channels.GetChannels)
async def get_channels(ctx: CallContext, query: Any) -> Any:
    messaging = ctx.emu.messaging
    return types.messages.Chats(
        chats=[messaging.channel_tl(resolve_channel(ctx, peer)) for peer in query.id]
    )


@method(functions.channels.GetMessages)
async def get_channel_messages(ctx: CallContext, query: Any) -> Any:
    me = ctx.require_user()
    channel = resolve_channel(ctx, query.channel)
    box = channel_box(channel.id)
    found, views = collect(ctx, box, query.id)
    users, chats = ctx.emu.messaging.peers_of(found, me)
    if not any(c.id == channel.id for c in chats):
        chats.append(ctx.emu.messaging.channel_tl(channel))
    return types.messages.ChannelMessages(
        pts=ctx.emu.messaging.pts(box),
        count=len(views),
        messages=views,
        topics=[],
        chats=chats,
        users=users,
    )


@method(functions.channels.GetFullChannel)
async def get_full_channel(ctx: CallContext, query: Any) -> Any:
    me = ctx.require_user()
    channel = resolve_channel(ctx, query.channel)
    messaging = ctx.emu.messaging
    full = types.ChannelFull(
        id=channel.id,
        about="",
        read_inbox_max_id=0,
        read_outbox_max_id=0,
        unread_count=0,
        chat_photo=types.PhotoEmpty(id=0),
        notify_settings=types.PeerNotifySettings(),
        bot_info=[],
        pts=messaging.pts(channel_box(channel.id)),
        exported_invite=None,
    )
    users, _ = messaging.peers_of([], me)
    return types.messages.ChatFull(
        full_chat=full, chats=[messaging.channel_tl(channel)], users=users
    )
