"""Resolving the peers a request names, with the errors Telegram gives for bad ones."""

from __future__ import annotations

from typing import Any

from pyrogram.raw import types

from ..messaging import Channel, channel_box, user_box
from ..store import User
from .context import CallContext, RpcError


def resolve_peer(ctx: CallContext, peer: Any) -> tuple[str, User | Channel]:
    """("u", user) or ("c", channel) for an InputPeer; PEER_ID_INVALID otherwise."""
    me = ctx.require_user()
    if isinstance(peer, types.InputPeerSelf):
        return "u", me
    if isinstance(peer, types.InputPeerUser):
        user = ctx.world.store.users.get(peer.user_id)
        if user is None or (user.id != me.id and peer.access_hash != user.access_hash):
            raise RpcError(400, "PEER_ID_INVALID")
        return "u", user
    if isinstance(peer, types.InputPeerChannel):
        return "c", resolve_channel(ctx, peer)
    raise RpcError(400, "PEER_ID_INVALID")


def resolve_channel(ctx: CallContext, peer: Any) -> Channel:
    """The channel an InputChannel/InputPeerChannel names, if the caller is a member.

    Every call that names a channel comes through here, so an account removed from it gets
    CHANNEL_PRIVATE for all of them (reading, sending, copying, forwarding, editing).
    """
    me = ctx.require_user()
    messaging = ctx.world.messaging
    channel = messaging.channels.get(getattr(peer, "channel_id", -1))
    # A member may name a channel with access_hash 0.
    if channel is None or getattr(peer, "access_hash", None) not in (channel.access_hash, 0):
        raise RpcError(400, "CHANNEL_INVALID")
    if not messaging.is_member(channel.id, me.id):
        raise RpcError(400, "CHANNEL_PRIVATE")
    return channel


def box_for(ctx: CallContext, kind: str, target: User | Channel) -> tuple[str, str]:
    """(box, peer key) where a message in this chat lives, as the caller sees it."""
    me = ctx.require_user()
    if kind == "c":
        return channel_box(target.id), f"c:{target.id}"
    return user_box(me.id), f"u:{target.id}"
