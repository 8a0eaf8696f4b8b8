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

from ..server import API_ID
from . import CallContext, RpcError, method
from .peers import user_tl

_EXPORT_TTL = 300


@method(functions.auth.ImportBotAuthorization, needs_auth=False)
async def import_bot_authorization(ctx: CallContext, query: Any) -> Any:
    emu = ctx.emu
    if query.api_id != API_ID or query.api_hash != emu.api_hash:
        raise RpcError(400, "API_ID_INVALID")
    bot = emu.bot_by_token(query.bot_auth_token)
    if bot is None:
        raise RpcError(400, "ACCESS_TOKEN_INVALID")
    if bot.home_dc != ctx.dc:
        raise RpcError(303, f"USER_MIGRATE_{bot.home_dc}")
    emu.store.authorize_key(ctx.key, bot.id)
    emu.stats.bump(ctx.dc, "bot_signins")
    return types.auth.Authorization(user=user_tl(bot, bot))


@method(functions.auth.ExportAuthorization)
async def export_authorization(ctx: CallContext, query: Any) -> Any:
    user = ctx.require_user()
    if query.dc_id not in ctx.emu.dc_ids or query.dc_id == ctx.dc:
        raise RpcError(400, "DC_ID_INVALID")
    blob = os.urandom(128)
    now = time.time()
    exported = ctx.emu.exported
    for stale in [b for b, (_, _, expires) in exported.items() if expires < now]:
        del exported[stale]
    exported[blob] = (user.id, query.dc_id, now + _EXPORT_TTL)
    return types.auth.ExportedAuthorization(id=user.id, bytes=blob)


@method(functions.auth.ImportAuthorization, needs_auth=False)
async def import_authorization(ctx: CallContext, query: Any) -> Any:
    emu = ctx.emu
    # Bytes are single use: presenting them anywhere, rightly or not, consumes them.
    record = emu.exported.pop(query.bytes, None)
    if record is None or record[0] != query.id or record[1] != ctx.dc or record[2] < time.time():
        raise RpcError(400, "AUTH_BYTES_INVALID")
    user = emu.store.users[record[0]]
    # A repeated import on a key already authorized as that user changes nothing, so only
    # imports that create an authorization are counted (the per-method counter has them all).
    if ctx.key.user_id != user.id:
        emu.store.authorize_key(ctx.key, user.id)
        emu.stats.bump(ctx.dc, "auth_imports")
    return types.auth.Authorization(user=user_tl(user, user))


@method(functions.auth.LogOut)
async def log_out(ctx: CallContext, query: Any) -> Any:
    ctx.emu.store.authorize_key(ctx.key, None)
    return types.auth.LoggedOut()
