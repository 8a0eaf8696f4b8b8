"""users.*: the accounts a bot can see (itself, and users who wrote to it)."""

from __future__ import annotations

from typing import Any

from pyrogram.raw import functions, types

from ..store import User
from ..views import user_tl
from .context import CallContext, RpcError
from .methods import Methods

methods = Methods()


def resolve_input_user(ctx: CallContext, peer: Any) -> User | None:
    me = ctx.require_user()
    if isinstance(peer, types.InputUserSelf | types.InputPeerSelf):
        return me
    user_id = getattr(peer, "user_id", None)
    if user_id is None:
        return None
    user = ctx.world.store.users.get(user_id)
    if user is None:
        return None
    if user.id != me.id and getattr(peer, "access_hash", None) not in (user.access_hash, 0):
        return None
    return user


@methods.register(functions.users.GetUsers)
async def get_users(ctx: CallContext, query: Any) -> Any:
    me = ctx.require_user()
    found = []
    for peer in query.id:
        user = resolve_input_user(ctx, peer)
        if user is not None:
            found.append(user_tl(user, me))
        elif getattr(peer, "user_id", None) is not None:
            found.append(types.UserEmpty(id=peer.user_id))
    return found


@methods.register(functions.users.GetFullUser)
async def get_full_user(ctx: CallContext, query: Any) -> Any:
    me = ctx.require_user()
    user = resolve_input_user(ctx, query.id)
    if user is None:
        raise RpcError(400, "USER_ID_INVALID")
    full = types.UserFull(
        id=user.id,
        settings=types.PeerSettings(),
        notify_settings=types.PeerNotifySettings(),
        common_chats_count=0,
        about="A tgstream emulator account" if user.is_bot else None,
    )
    return types.users.UserFull(full_user=full, chats=[], users=[user_tl(user, me)])
