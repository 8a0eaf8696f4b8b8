"""The emulator: one TCP listener per DC over the shared world state and MTProto sessions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .connection import Connection, Shared
from .delivery import Delivery
from .messaging import bot_api_channel_id
from .mtproto.core import MTProtoCore
from .rpc.dispatch import Dispatcher
from .rpc.table import METHODS
from .world import DEFAULT_DCS, EmulatorConfig, World

__all__ = ["DEFAULT_DCS", "Emulator", "EmulatorConfig"]

log = logging.getLogger("tgemu")


class Emulator:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.world = World(config, deliver=self._deliver)
        self.dc_ids = self.world.dc_ids
        self.core = MTProtoCore(self.world.store.secret("salt"))
        self.delivery = Delivery(self.world.store, self.core)
        self.crypto_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tgemu-crypto")
        self.shared = Shared(
            world=self.world,
            core=self.core,
            dispatcher=Dispatcher(self.world, self.core.sessions, METHODS),
            delivery=self.delivery,
            crypto_pool=self.crypto_pool,
        )
        self.connections: dict[int, set[Connection]] = {dc: set() for dc in self.dc_ids}
        self.listeners: dict[int, asyncio.Server] = {}

    def _deliver(self, user_id: int, updates: Any) -> None:
        self.delivery.push_updates(user_id, updates)

    @property
    def ports(self) -> dict[int, int]:
        return self.world.ports

    # --- listeners ------------------------------------------------------------------------

    async def start(self) -> None:
        store = self.world.store
        remembered = json.loads(store.meta("ports", "{}") or "{}")
        for dc in self.dc_ids:
            wanted = self.config.ports.get(dc) or int(remembered.get(str(dc), 0))
            await self._listen(dc, wanted)
        store.set_meta("ports", json.dumps({str(dc): p for dc, p in self.ports.items()}))
        log.info("emulator listening", extra={"ports": self.ports})

    async def _listen(self, dc: int, port: int) -> None:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = Connection(self.shared, dc, reader, writer, self._forget)
            self.connections[dc].add(connection)
            await connection.serve()

        try:
            server = await asyncio.start_server(accept, self.config.host, port, reuse_address=True)
        except OSError:
            if port == 0 or dc in self.config.ports:
                raise
            # The port remembered from the last run is taken: any free one will do.
            server = await asyncio.start_server(accept, self.config.host, 0, reuse_address=True)
        self.listeners[dc] = server
        self.ports[dc] = server.sockets[0].getsockname()[1]

    def _forget(self, connection: Connection) -> None:
        self.connections[connection.dc].discard(connection)

    async def set_down(self, dc: int, down: bool) -> None:
        """A DC that is down refuses connections (its port is closed) and drops live ones."""
        listening = dc in self.listeners
        if down and listening:
            server = self.listeners.pop(dc)
            server.close()
            for connection in list(self.connections[dc]):
                connection.close()
        elif not down and not listening:
            await self._listen(dc, self.ports[dc])

    async def stop(self) -> None:
        for server in self.listeners.values():
            server.close()
        for conns in self.connections.values():
            for connection in list(conns):
                connection.close()
        for server in self.listeners.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
        self.listeners.clear()
        self.crypto_pool.shutdown(wait=False, cancel_futures=True)
        self.world.store.close()

    def config_json(self) -> dict[str, Any]:
        world = self.world
        return {
            "dcs": {
                str(dc): {"host": self.config.host, "port": self.ports[dc]} for dc in self.dc_ids
            },
            "home_dc": self.config.home_dc,
            "rsa_public_key": world.rsa.public_pem(),
            "rsa_fingerprint": world.rsa.fingerprint,
            "api_id": world.api_id,
            "api_hash": world.api_hash,
            "bot_token": world.bots[0].token if world.bots else None,
            "bot_tokens": [bot.token for bot in world.bots],
            "bot_ids": [bot.id for bot in world.bots],
            "bin_channel": bot_api_channel_id(world.messaging.bin_channel.id),
        }
