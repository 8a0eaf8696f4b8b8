"""One Kurigram client per bot token; the first one also handles updates."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any

from ..store import BotSessions
from .network import DcAddresses, StreamingAbridged, connection_factory
from .session_storage import TolerantStorage
from .shared_session import SharedStorage
from .update_client import UpdatesClient

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
        sleep_threshold: float = 10,
        sessions: BotSessions | None = None,
    ) -> None:
        self.index = index
        self.bot_id = int(token.split(":", 1)[0])
        self.session_dir = session_dir
        # Every connection, Telegram's or TG_DC_ADDRESSES', reads its packets in linear time.
        kwargs: dict[str, Any] = {"protocol_factory": StreamingAbridged}
        if addresses:
            kwargs["connection_factory"] = connection_factory(addresses)
        name = f"bot-{self.bot_id}"
        # Its own session: in the shared store when there is one (replicas), else in its
        # session file in SESSION_DIR.
        storage: Any = (
            TolerantStorage(name, workdir=session_dir)
            if sessions is None
            else SharedStorage(name, self.bot_id, sessions, handles_updates)
        )
        self.shares_session = sessions is not None
        self.client = UpdatesClient(
            name,
            api_id=api_id,
            api_hash=api_hash,
            bot_token=token,
            workdir=str(session_dir),
            no_updates=not handles_updates,
            skip_updates=False,
            # FLOOD_SLEEP_THRESHOLD is the only threshold: Kurigram sleeps no longer wait
            # than tgstream's policy would (its own default of 60 s would hang requests).
            sleep_threshold=sleep_threshold,
            storage_engine=storage,
            **kwargs,
        )
        self.home_dc = 0
        self.load = 0
        self.ready = False
        self.refused = False  # Telegram refused its credentials: left out for good
        # Why the bot is not ready, and until when (monotonic) when it is waiting.
        self.problem = "signing in"
        self.waiting_until: float | None = None

    @property
    def label(self) -> str:
        return f"bot {self.index + 1} ({self.bot_id})"

    @property
    def retry_after(self) -> float:
        if self.waiting_until is None:
            return 5.0
        return max(1.0, self.waiting_until - time.monotonic())

    @property
    def state(self) -> str:
        if self.ready:
            return f"{self.label}: ready"
        if self.waiting_until is not None:
            left = max(0.0, self.waiting_until - time.monotonic())
            return f"{self.label}: {self.problem}, {left:,.0f} s left"
        return f"{self.label}: {self.problem}"

    @property
    def username(self) -> str | None:
        """The bot's @username, known once it has signed in (Kurigram's get_me at start)."""
        me = self.client.me if self.ready else None
        name = getattr(me, "username", None)
        return name if isinstance(name, str) and name else None

    @property
    def session_file(self) -> Path:
        return self.session_dir / f"bot-{self.bot_id}.session"

    async def start(self) -> None:
        # Kurigram signs in only when its session file has no authorized key: a restart
        # reuses the stored key and makes no login.
        if self.client.is_connected:
            # A start that failed half-way; Kurigram refuses to connect twice.
            with contextlib.suppress(Exception):
                await self.client.disconnect()
        await self.client.start()
        self.home_dc = int(await self.client.storage.dc_id())
        if not self.shares_session:
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
