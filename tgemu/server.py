"""The emulator: one TCP listener per DC, shared state, sessions, salts and update fan-out."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyrogram.raw import types

from . import mtcrypto, rpc
from .connection import Connection
from .faults import Faults
from .messaging import Messaging, bot_api_channel_id
from .rsa_key import ServerRSAKey
from .session import MTSession, Outgoing
from .stats import Stats
from .store import AuthKey, Store, User

log = logging.getLogger("tgemu")

API_ID = 94575
DEFAULT_DCS = (1, 2, 3, 4, 5)


@dataclass
class EmulatorConfig:
    state_dir: Path
    dc_ids: tuple[int, ...] = DEFAULT_DCS
    home_dc: int = 2
    bots: int = 1
    host: str = "127.0.0.1"
    ports: dict[int, int] = field(default_factory=dict)


class Emulator:
    def __init__(self, config: EmulatorConfig) -> None:
        if config.home_dc not in config.dc_ids:
            raise ValueError(f"home DC {config.home_dc} is not one of the DCs {config.dc_ids}")
        rpc.load_all()
        self.config = config
        self.dc_ids = list(config.dc_ids)
        self.store = Store(config.state_dir)
        self.rsa = ServerRSAKey.load_or_create(config.state_dir / "rsa_key.pem")
        self.stats = Stats(self.dc_ids)
        self.faults = Faults(self.dc_ids)
        self.salt_secret = self.store.secret("salt")
        self.api_hash = self.store.secret("api_hash").hex()[:32]
        self.bots: list[User] = self.store.ensure_bots(config.bots, config.home_dc)
        self.initial_salts: dict[int, tuple[int, float]] = {}
        self.sessions: dict[tuple[int, int], MTSession] = {}
        self.connections: dict[int, set[Connection]] = {dc: set() for dc in self.dc_ids}
        self.listeners: dict[int, asyncio.Server] = {}
        self.ports: dict[int, int] = {}
        self.crypto_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tgemu-crypto")
        # Exported authorizations: bytes -> (user_id, target DC, expiry); single use.
        self.exported: dict[bytes, tuple[int, int, float]] = {}
        self.update_sessions: dict[int, MTSession] = {}
        self.messaging = Messaging(self)

    # --- listeners ------------------------------------------------------------------------

    async def start(self) -> None:
        remembered = json.loads(self.store.meta("ports", "{}") or "{}")
        for dc in self.dc_ids:
            wanted = self.config.ports.get(dc) or int(remembered.get(str(dc), 0))
            await self._listen(dc, wanted)
        self.store.set_meta("ports", json.dumps({str(dc): p for dc, p in self.ports.items()}))
        log.info("emulator listening", extra={"ports": self.ports})

    async def _listen(self, dc: int, port: int) -> None:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = Connection(self, dc, reader, writer)
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

    def forget_connection(self, connection: Connection) -> None:
        self.connections[connection.dc].discard(connection)
        for session in self.sessions.values():
            if session.connection is connection:
                session.connection = None

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
        self.store.close()

    # --- sessions and salts ---------------------------------------------------------------

    def session_for(self, key: AuthKey, session_id: int, dc: int) -> MTSession:
        session = self.sessions.get((key.key_id, session_id))
        if session is None:
            session = MTSession(key, session_id, dc, unique_id=secrets.randbits(63))
            self.sessions[(key.key_id, session_id)] = session
        return session

    def destroy_session(self, current: MTSession, session_id: int) -> Any:
        victim = self.sessions.get((current.key.key_id, session_id))
        if victim is None or victim is current:
            return types.DestroySessionNone(session_id=session_id)
        del self.sessions[(current.key.key_id, session_id)]
        return types.DestroySessionOk(session_id=session_id)

    def current_salt(self, key: AuthKey) -> int:
        window = int(time.time()) // mtcrypto.SALT_PERIOD
        return mtcrypto.salt_for(self.salt_secret, key.key_id, window)

    def salt_valid(self, key: AuthKey, salt: int) -> bool:
        window = int(time.time()) // mtcrypto.SALT_PERIOD
        # The previous window's salt stays valid for a whole period, as future_salts promise.
        for w in (window, window - 1):
            if salt == mtcrypto.salt_for(self.salt_secret, key.key_id, w):
                return True
        initial = self.initial_salts.get(key.key_id)
        return initial is not None and initial[0] == salt and initial[1] > time.time()

    def send_in_session(
        self, session: MTSession, body: bytes, content_related: bool, is_response: bool
    ) -> None:
        """Queue a message on the session's latest connection.

        With no live connection, the message is kept (msg_id assigned) and resent when the
        client reconnects with the same session, as Telegram resends unacknowledged answers.
        """
        connection = session.connection
        if connection is not None and not connection.closed:
            connection.send(session, body, content_related, is_response)
        elif content_related:
            out = Outgoing(session.next_msg_id(is_response), session.next_seqno(True), body)
            session.remember_unacked(out)

    def revoke_authorizations(self, dc: int) -> None:
        """Log out every key on a DC, as when Telegram terminates the sessions."""
        for key in list(self.store.keys.values()):
            if key.dc == dc and key.user_id is not None:
                self.store.authorize_key(key, None)

    def push_updates(self, user_id: int, body: bytes) -> None:
        """Deliver an Updates object to each live client of this account, once per auth key.

        Per key it goes to the session that last synchronised updates (updates.getState or
        getDifference), else to any live session that asked for updates: a client's media
        sessions share its key and must not see every update twice.
        """
        by_key: dict[int, list[MTSession]] = {}
        for (key_id, _), session in self.sessions.items():
            if session.connection is None or session.connection.closed:
                continue
            owner = self.store.user_of(session.key)
            if owner is None or owner.id != user_id:
                continue
            by_key.setdefault(key_id, []).append(session)
        for key_id, live in by_key.items():
            chosen = self.update_sessions.get(key_id)
            if chosen not in live:
                wanting = [s for s in live if s.wants_updates]
                chosen = wanting[-1] if wanting else None
            if chosen is not None:
                self.send_in_session(chosen, body, content_related=True, is_response=False)

    # --- accounts -------------------------------------------------------------------------

    def bot_by_token(self, token: str) -> User | None:
        bot_id, _, secret = token.partition(":")
        if not bot_id.isdigit():
            return None
        user = self.store.users.get(int(bot_id))
        if user is None or not user.is_bot or user.token_secret is None:
            return None
        return user if secrets.compare_digest(user.token_secret, secret) else None

    def config_json(self) -> dict[str, Any]:
        return {
            "dcs": {
                str(dc): {"host": self.config.host, "port": self.ports[dc]} for dc in self.dc_ids
            },
            "home_dc": self.config.home_dc,
            "rsa_public_key": self.rsa.public_pem(),
            "rsa_fingerprint": self.rsa.fingerprint,
            "api_id": API_ID,
            "api_hash": self.api_hash,
            "bot_token": self.bots[0].token if self.bots else None,
            "bot_tokens": [bot.token for bot in self.bots],
            "bot_ids": [bot.id for bot in self.bots],
            "bin_channel": bot_api_channel_id(self.messaging.bin_channel.id),
        }
