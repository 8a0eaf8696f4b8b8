"""bots.*: the settings calls a bot makes on start; accepted and remembered."""

from __future__ import annotations

import json
from typing import Any

from pyrogram.raw import functions, types
from pyrogram.raw.core import BoolTrue

from .context import CallContext
from .methods import Methods

methods = Methods()


@methods.register(functions.bots.SetBotCommands)
async def set_bot_commands(ctx: CallContext, query: Any) -> Any:
    me = ctx.require_user()
    commands = [{"command": c.command, "description": c.description} for c in query.commands]
    ctx.world.store.set_meta(f"commands:{me.id}", json.dumps(commands))
    return BoolTrue()


@methods.register(functions.bots.ResetBotCommands)
async def reset_bot_commands(ctx: CallContext, query: Any) -> Any:
    me = ctx.require_user()
    ctx.world.store.set_meta(f"commands:{me.id}", "[]")
    return BoolTrue()


@methods.register(functions.bots.GetBotCommands)
async def get_bot_commands(ctx: CallContext, query: Any) -> Any:
    me = ctx.require_user()
    stored = json.loads(ctx.world.store.meta(f"commands:{me.id}", "[]") or "[]")
    return [types.BotCommand(command=c["command"], description=c["description"]) for c in stored]
