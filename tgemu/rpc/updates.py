"""updates.*: the state and the differences that keep a client from missing anything."""

from __future__ import annotations

import time
from typing import Any

from pyrogram.raw import functions, types

from ..messaging import channel_box, user_box
from .chats import resolve_channel
from .context import CallContext
from .methods import Methods

methods = Methods()

_DIFFERENCE_LIMIT = 1000


def _subscribe(ctx: CallContext) -> None:
    """Make this session the one its key's updates go to, unless it never asked for updates:
    a call wrapped in invokeWithoutUpdates does not subscribe its connection
    (core.telegram.org/api/updates), so a client with updates off that reads the state (as
    Kurigram does at every start) does not take them from the one handling them."""
    if ctx.session.wants_updates:
        ctx.route_updates_here()


def _state(pts: int) -> types.updates.State:
    return types.updates.State(pts=pts, qts=0, date=int(time.time()), seq=0, unread_count=0)


@methods.register(functions.updates.GetState)
async def get_state(ctx: CallContext, query: Any) -> Any:
    user = ctx.require_user()
    _subscribe(ctx)
    return _state(ctx.world.messaging.pts(user_box(user.id)))


@methods.register(functions.updates.GetDifference)
async def get_difference(ctx: CallContext, query: Any) -> Any:
    me = ctx.require_user()
    _subscribe(ctx)
    messaging = ctx.world.messaging
    box = user_box(me.id)
    entries = messaging.difference(box, query.pts, _DIFFERENCE_LIMIT)
    if not entries:
        return types.updates.DifferenceEmpty(date=int(time.time()), seq=0)
    # A bot is not told about its own messages, but they still move its pts; neither are
    # messages deleted since (their deletion is).
    new = [c.message for c in entries if c.kind == "new" and c.message and not c.message.out]
    edits = [(c.pts, c.message) for c in entries if c.kind == "edit" and c.message]
    users, chats = messaging.peers_of(new + [m for _, m in edits], me)
    other: list[Any] = [
        types.UpdateEditMessage(message=messaging.message_tl(msg), pts=pts, pts_count=1)
        for pts, msg in edits
    ]
    other += [
        types.UpdateDeleteMessages(messages=[c.message_id], pts=c.pts, pts_count=1)
        for c in entries
        if c.kind == "delete"
    ]
    last_pts = entries[-1].pts
    new_messages = [messaging.message_tl(msg) for msg in new]
    if last_pts < messaging.pts(box):
        return types.updates.DifferenceSlice(
            new_messages=new_messages,
            new_encrypted_messages=[],
            other_updates=other,
            chats=chats,
            users=users,
            intermediate_state=_state(last_pts),
        )
    return types.updates.Difference(
        new_messages=new_messages,
        new_encrypted_messages=[],
        other_updates=other,
        chats=chats,
        users=users,
        state=_state(last_pts),
    )


@methods.register(functions.updates.GetChannelDifference)
async def get_channel_difference(ctx: CallContext, query: Any) -> Any:
    me = ctx.require_user()
    channel = resolve_channel(ctx, query.channel)
    messaging = ctx.world.messaging
    box = channel_box(channel.id)
    limit = max(1, min(query.limit or 100, 100_000))
    entries = messaging.difference(box, query.pts, limit)
    current = messaging.pts(box)
    if not entries:
        return types.updates.ChannelDifferenceEmpty(pts=current, final=True)
    new = [
        c.message for c in entries if c.kind == "new" and c.message and c.message.from_id != me.id
    ]
    edits = [(c.pts, c.message) for c in entries if c.kind == "edit" and c.message]
    users, chats = messaging.peers_of(new + [m for _, m in edits], me)
    if not any(c.id == channel.id for c in chats):
        chats.append(messaging.channel_tl(channel))
    other: list[Any] = [
        types.UpdateEditChannelMessage(message=messaging.message_tl(msg), pts=pts, pts_count=1)
        for pts, msg in edits
    ]
    other += [
        types.UpdateDeleteChannelMessages(
            channel_id=channel.id, messages=[c.message_id], pts=c.pts, pts_count=1
        )
        for c in entries
        if c.kind == "delete"
    ]
    last_pts = entries[-1].pts
    return types.updates.ChannelDifference(
        pts=last_pts,
        new_messages=[messaging.message_tl(msg) for msg in new],
        other_updates=other,
        chats=chats,
        users=users,
        final=last_pts >= current,
    )
