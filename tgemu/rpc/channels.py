"""channels.*: what a bot that administers a channel may read."""

from __future__ import annotations

from typing import Any

from pyrogram.raw import functions, types

from ..messaging import channel_box
from .chats import resolve_channel
from .context import CallContext
from .messages import collect
from .methods import Methods

methods = Methods()


@methods.register(functions.channels.GetChannels)
async def get_channels(ctx: CallContext, query: Any) -> Any:
    messaging = ctx.world.messaging
    return types.messages.Chats(
        chats=[messaging.channel_tl(resolve_channel(ctx, peer)) for peer in query.id]
    )


@methods.register(functions.channels.GetMessages)
async def get_channel_messages(ctx: CallContext, query: Any) -> Any:
    me = ctx.require_user()
    channel = resolve_channel(ctx, query.channel)
    box = channel_box(channel.id)
    found, views = collect(ctx, box, query.id)
    users, chats = ctx.world.messaging.peers_of(found, me)
    if not any(c.id == channel.id for c in chats):
        chats.append(ctx.world.messaging.channel_tl(channel))
    return types.messages.ChannelMessages(
        pts=ctx.world.messaging.pts(box),
        count=len(views),
        messages=views,
        topics=[],
        chats=chats,
        users=users,
    )


@methods.register(functions.channels.GetFullChannel)
async def get_full_channel(ctx: CallContext, query: Any) -> Any:
    me = ctx.require_user()
    channel = resolve_channel(ctx, query.channel)
    messaging = ctx.world.messaging
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
