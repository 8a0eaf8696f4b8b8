"""One Kurigram client per bot token; the first one also handles updates."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from pyrogram import Client

from .network import DcAddresses, connection_factory

log = logging.getLogger("tgstream.telegram.bots")


class BotClient:
    """A signed-in bot: its Kurigram client, id and home DC."""

    def __init__(
        self,
        index: int,
        token: str,
        api_id: int,
        api_hash: str,
        session_dir: Path,
        addresses: DcAddresses,
        handles_updates: bool,
    ) -> None:
        self.index = index
        self.bot_id = int(token.split(":", 1)[0])
        self.session_dir = session_dir
        kwargs: dict[str, Any] = {}
        if addresses:
            kwargs["connection_factory"] = connection_factory(addresses)
        self.client = Client(
            f"bot-{self.bot_id}",
            api_id=api_id,
            api_hash=api_hash,
            bot_token=token,
            workdir=str(session_dir),
            no_updates=not handles_updates,
            skip_updates=False,
            sleep_threshold=60,
            **kwargs,
        )
        self.home_dc = 0
        self.load = 0

    @property
    def session_file(self) -> Path:
        return self.session_dir / f"bot-{self.bot_id}.session"

    async def start(self) -> None:
        # Kurigram signs in only when its session file has no authorized key: a restart
        # reuses the stored key and makes no login.
        await self.client.start()
        self.home_dc = int(await self.client.storage.dc_id())
        for path in (self.session_file, Path(f"{self.session_file}-journal")):
            if path.exists():
                os.chmod(path, 0o600)
        log.info("bot ready", extra={"bot_id": self.bot_id, "home_dc": self.home_dc})

    async def stop(self) -> None:
        if self.client.is_connected:
            await self.client.stop()

    async def home_auth_key(self) -> bytes:
        key: bytes = await self.client.storage.auth_key()
        return key
