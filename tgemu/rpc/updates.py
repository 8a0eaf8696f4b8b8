"""updates.*: the update state a client synchronises from."""

from __future__ import annotations

import time
from typing import Any

from pyrogram.raw import functions, types

from . import CallContext, method


@method(functions.updates.GetState)
async def get_state(ctx: CallContext, query: Any) -> Any:
    user = ctx.require_user()
    pts = int(ctx.emu.store.meta(f"pts:{user.id}", "0") or 0)
    return types.updates.State(pts=pts, qts=0, date=int(time.time()), seq=0, unread_count=0)
