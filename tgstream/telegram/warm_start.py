"""A bot's part of the start-up's warm-up: the chosen DCs' pools opened as early as each can be.

Another DC's pool needs only its kept key and a client connected to its home DC (storage
open, session up), so it is opened then, while the sign-in's last calls are still under way:
that lead is what lets a request that comes right after start-up find it open.  The home
DC's pool uses the session's own key, known for sure once signed in.
"""

from __future__ import annotations

import asyncio

from .bots import BotClient
from .registry import DcRegistry


async def warm_bot(
    bot: BotClient, registry: DcRegistry, signing_in: asyncio.Task[None], dcs: list[int]
) -> None:
    connected = asyncio.ensure_future(bot.client.connected.wait())
    try:
        await asyncio.wait([signing_in, connected], return_when=asyncio.FIRST_COMPLETED)
    finally:
        connected.cancel()
    if not (bot.ready or bot.client.connected.is_set()):
        return  # refused, or start-up failed: nothing to open
    home = bot.home_dc if bot.ready else int(await bot.client.storage.dc_id())
    others = [dc for dc in dcs if dc != home]
    opening = asyncio.ensure_future(registry.warm_up(others)) if others else None
    try:
        await asyncio.wait([signing_in])
        if home in dcs and bot.ready:
            await registry.warm_up([home])
        if opening is not None:
            await opening
    finally:
        if opening is not None:
            opening.cancel()  # stopped meanwhile (no-op once it is done)
