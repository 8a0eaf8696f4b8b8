"""What a DC pool needs of a bot's Kurigram client: keys, connections, authorizations.

The pool (registry.py) decides when to make a key, open a connection or import an
authorization, and what each failure means; this module only does it, with Kurigram.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from pyrogram import raw
from pyrogram.session import Auth, Session

from .bots import BotClient
from .network import DcAddresses

# A connection that has not started within this is treated as unreachable.
CONNECT_TIMEOUT = 10.0


class KurigramConnector:
    def __init__(self, bot: BotClient, addresses: DcAddresses) -> None:
        self.bot = bot
        self.addresses = addresses

    @property
    def bot_id(self) -> int:
        return self.bot.bot_id

    @property
    def home_dc(self) -> int:
        return self.bot.home_dc

    async def home_auth_key(self) -> bytes:
        return await self.bot.home_auth_key()

    async def _address(self, dc: int) -> tuple[str, int]:
        if dc in self.addresses:
            return self.addresses[dc]
        option = await self.bot.client.get_dc_option(dc, is_media=True)
        return option.ip_address, option.port

    async def new_auth_key(self, dc: int) -> bytes:
        host, port = await self._address(dc)
        key: bytes = await Auth(self.bot.client, dc, host, port, False).create()
        return key

    async def connect(self, dc: int, auth_key: bytes) -> Session:
        host, port = await self._address(dc)
        session = Session(self.bot.client, dc, host, port, auth_key, False, is_media=True)
        try:
            await asyncio.wait_for(session.start(), CONNECT_TIMEOUT)
        except BaseException:
            await stop_quietly(session)
            raise
        if not session.is_started.is_set():
            # Kurigram's start returns quietly when it could not connect and retries in the
            # background, for ever; a DC that is down must fail here, now.
            await stop_quietly(session)
            raise ConnectionRefusedError(f"DC {dc} did not accept a connection")
        return session

    async def export_authorization(self, dc: int) -> tuple[int, bytes]:
        exported: Any = await self.bot.client.invoke(
            raw.functions.auth.ExportAuthorization(dc_id=dc),
            retries=1,
            timeout=CONNECT_TIMEOUT,
            sleep_threshold=0,
        )
        return exported.id, exported.bytes

    async def import_authorization(self, session: Session, id: int, data: bytes) -> None:
        await session.invoke(
            raw.functions.auth.ImportAuthorization(id=id, bytes=data),
            retries=1,
            timeout=CONNECT_TIMEOUT,
            sleep_threshold=0,
        )


async def stop_quietly(session: Any) -> None:
    with contextlib.suppress(BaseException):
        await session.stop()
