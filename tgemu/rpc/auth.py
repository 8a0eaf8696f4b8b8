"""auth.*: bot sign-in on the home DC and authorization transfer between DCs.

core.telegram.org/api/datacenter: a key is authorized on a foreign DC by
auth.exportAuthorization on the home DC and auth.importAuthorization on the target DC;
a bot signing in anywhere but its home DC is sent back with USER_MIGRATE_X.
"""

from __future__ import annotations

import os
import time
from typing import Any

from pyrogram.raw import functions, types

from ..views import user_tl
from .context import CallContext, RpcError
from .methods import Methods

methods = Methods()


@methods.register(functions.auth.ImportBotAuthorization, needs_auth=False)
async def import_bot_authorization(ctx: CallContext, query: Any) -> Any:
    world = ctx.world
    if query.api_id != world.api_id or query.api_hash != world.api_hash:
        raise RpcError(400, "API_ID_INVALID")
    bot = world.bot_by_token(query.bot_auth_token)
    if bot is None:
        raise RpcError(400, "ACCESS_TOKEN_INVALID")
    if bot.home_dc != ctx.dc:
        raise RpcError(303, f"USER_MIGRATE_{bot.home_dc}")
    world.store.authorize_key(ctx.key, bot.id)
    world.stats.bump(ctx.dc, "bot_signins")
    return types.auth.Authorization(user=user_tl(bot, bot))


@methods.register(functions.auth.ExportAuthorization)
async def export_authorization(ctx: CallContext, query: Any) -> Any:
    user = ctx.require_user()
    if query.dc_id not in ctx.world.dc_ids or query.dc_id == ctx.dc:
        raise RpcError(400, "DC_ID_INVALID")
    blob = os.urandom(128)
    ctx.world.export_authorization(user.id, query.dc_id, blob, time.time())
    return types.auth.ExportedAuthorization(id=user.id, bytes=blob)


@methods.register(functions.auth.ImportAuthorization, needs_auth=False)
async def import_authorization(ctx: CallContext, query: Any) -> Any:
    world = ctx.world
    # Bytes are single use: presenting them anywhere, rightly or not, consumes them.
    grant = world.exported.pop(query.bytes, None)
    if (
        grant is None
        or grant.user_id != query.id
        or grant.dc != ctx.dc
        or grant.expires < time.time()
    ):
        raise RpcError(400, "AUTH_BYTES_INVALID")
    user = world.store.users[grant.user_id]
    # A repeated import on a key already authorized as that user changes nothing, so only
    # imports that create an authorization are counted (the per-method counter has them all).
    if ctx.key.user_id != user.id:
        world.store.authorize_key(ctx.key, user.id)
        world.stats.bump(ctx.dc, "auth_imports")
    return types.auth.Authorization(user=user_tl(user, user))


@methods.register(functions.auth.LogOut)
async def log_out(ctx: CallContext, query: Any) -> Any:
    ctx.world.store.authorize_key(ctx.key, None)
    return types.auth.LoggedOut()
