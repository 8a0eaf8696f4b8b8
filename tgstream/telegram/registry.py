"""Per bot, a pool of authorized MTProto connections to each DC.

A pool is created on first need, once (concurrent first requests wait for the same
creation), from the auth key persisted for that bot and DC when there is one.  A new key is
authorized by auth.exportAuthorization on the home DC and auth.importAuthorization on the
target DC, never by a second bot login, and persisted with its authorization, so a restart
makes no handshake and no import.  AUTH_KEY_UNREGISTERED drops the key and builds anew.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from dataclasses import dataclass
from typing import Any

from pyrogram import errors, raw
from pyrogram.session import Auth, Session

from ..metrics import Metrics
from ..store import AuthKeyRecord, Store
from .bots import BotClient
from .network import DcAddresses
from .slots import SlotQueue

log = logging.getLogger("tgstream.telegram.registry")

_IMPORT_TRIES = 3
_CREATE_TRIES = 5


@dataclass
class PooledSession:
    session: Session
    # The pool it belongs to: an error seen on it may only reset that pool, not a newer one.
    generation: int
    inflight: int = 0
    # Set when its pool is closed; a request still waiting on it will never be answered.
    closed: bool = False
    last_used: int = 0
    # The lane carries only streams' first parts, so a new viewer never queues behind bulk.
    lane: bool = False


@dataclass
class DcPool:
    dc: int
    auth_key: bytes
    slots: SlotQueue[PooledSession]
    generation: int = 0
    grower: asyncio.Task[None] | None = None

    @property
    def members(self) -> list[PooledSession]:
        return self.slots.members


class DcRegistry:
    def __init__(
        self,
        bot: BotClient,
        store: Store,
        addresses: DcAddresses,
        connections_per_dc: int,
        metrics: Metrics,
        requests_per_connection: int = 2,
    ) -> None:
        self.bot = bot
        self.store = store
        self.addresses = addresses
        self.connections_per_dc = connections_per_dc
        self.requests_per_connection = requests_per_connection
        self.metrics = metrics
        self.pools: dict[int, DcPool] = {}
        self._creating: dict[int, asyncio.Task[DcPool]] = {}
        self.keys_created = 0
        self.imports = 0
        self._generations = itertools.count(1)

    def warm(self, dc: int) -> bool:
        return dc in self.pools

    async def acquire(self, dc: int, urgent: bool = False) -> PooledSession:
        """A request slot on an authorized session of a DC (the pool is created on first
        use); hand it back with `release` once the answer is in."""
        pool = self.pools.get(dc)
        if pool is None:
            task = self._creating.get(dc)
            if task is None:
                task = asyncio.create_task(self._create_pool(dc))
                self._creating[dc] = task
                task.add_done_callback(lambda _: self._creating.pop(dc, None))
            # Shielded: one caller giving up must not abort the creation others wait for.
            pool = await asyncio.shield(task)
        return await pool.slots.acquire(urgent)

    def release(self, dc: int, member: PooledSession) -> None:
        pool = self.pools.get(dc)
        if pool is not None and pool.generation == member.generation:
            pool.slots.release(member)
        else:
            member.inflight -= 1  # its pool was reset; nobody waits on it any more

    def queued(self) -> int:
        return sum(pool.slots.waiting for pool in self.pools.values())

    async def _address(self, dc: int) -> tuple[str, int]:
        if dc in self.addresses:
            return self.addresses[dc]
        option = await self.bot.client.get_dc_option(dc, is_media=True)
        return option.ip_address, option.port

    async def _new_session(self, dc: int, auth_key: bytes) -> Session:
        host, port = await self._address(dc)
        session = Session(self.bot.client, dc, host, port, auth_key, False, is_media=True)
        await session.start()
        return session

    async def _create_pool(self, dc: int) -> DcPool:
        for attempt in range(1, _CREATE_TRIES + 1):
            try:
                return await self._try_create_pool(dc)
            except errors.FloodWait as exc:
                # A flood wait during creation is waited out, even at startup.
                log.warning("flood wait while connecting", extra={"dc": dc, "seconds": exc.value})
                self.metrics.flood_waits.labels("pool_creation").inc()
                await asyncio.sleep(float(exc.value or 1))
            except (OSError, TimeoutError, errors.InternalServerError) as exc:
                if attempt == _CREATE_TRIES:
                    raise
                log.warning("DC connection failed, retrying", extra={"dc": dc, "error": repr(exc)})
                await asyncio.sleep(min(2.0 * attempt, 5.0))
        raise TimeoutError(f"could not connect to DC {dc}")

    async def _try_create_pool(self, dc: int) -> DcPool:
        bot = self.bot
        if dc == bot.home_dc:
            # The home DC key is the client's own, authorized at sign-in and kept by Kurigram.
            auth_key = await bot.home_auth_key()
            authorized = True
        else:
            record = self.store.auth_key(bot.bot_id, dc)
            if record is None:
                host, port = await self._address(dc)
                auth_key = await Auth(bot.client, dc, host, port, False).create()
                self.store.save_auth_key(AuthKeyRecord(bot.bot_id, dc, auth_key, False))
                self.keys_created += 1
                self.metrics.auth_keys_created.labels(str(dc)).inc()
                authorized = False
            else:
                auth_key, authorized = record.auth_key, record.authorized
        session = await self._new_session(dc, auth_key)
        try:
            if not authorized:
                await self._import_authorization(dc, session)
                self.store.save_auth_key(AuthKeyRecord(bot.bot_id, dc, auth_key, True))
        except BaseException:
            await session.stop()
            raise
        generation = next(self._generations)
        pool = DcPool(dc, auth_key, SlotQueue(self.requests_per_connection), generation)
        pool.slots.add(PooledSession(session, generation))
        self.pools[dc] = pool
        pool.grower = asyncio.create_task(self._grow(pool))
        log.info(
            "DC pool ready",
            extra={"bot_id": bot.bot_id, "dc": dc, "new_key": not authorized or None},
        )
        return pool

    async def _import_authorization(self, dc: int, session: Session) -> None:
        for _ in range(_IMPORT_TRIES):
            exported = await self.bot.client.invoke(
                raw.functions.auth.ExportAuthorization(dc_id=dc)
            )
            try:
                await session.invoke(
                    raw.functions.auth.ImportAuthorization(id=exported.id, bytes=exported.bytes)
                )
            except errors.AuthBytesInvalid:
                continue
            self.imports += 1
            self.metrics.auth_imports.labels(str(dc)).inc()
            return
        raise errors.AuthBytesInvalid()

    async def _grow(self, pool: DcPool) -> None:
        """More connections with the same key: no handshake, no import, more bandwidth.
        All are opened at once (each costs a round trip); the lane is one of them."""

        async def one(lane: bool) -> None:
            try:
                session = await self._new_session(pool.dc, pool.auth_key)
            except Exception as exc:  # the pool works with fewer connections
                log.warning("extra connection failed", extra={"dc": pool.dc, "error": repr(exc)})
                return
            if self.pools.get(pool.dc) is not pool:
                await session.stop()
                return
            pool.slots.add(PooledSession(session, pool.generation, lane=lane))

        missing = self.connections_per_dc - len(pool.members)
        await asyncio.gather(one(lane=True), *(one(lane=False) for _ in range(missing)))

    async def reset(self, dc: int, generation: int) -> None:
        """AUTH_KEY_UNREGISTERED: forget this DC's key and connections; the next acquire
        builds a new key (or, on the home DC, the client must sign in again)."""
        pool = self.pools.get(dc)
        if pool is None or pool.generation != generation:
            return  # someone already reset it
        del self.pools[dc]
        if dc != self.bot.home_dc:
            self.store.drop_auth_key(self.bot.bot_id, dc)
        await self._close_pool(pool)

    async def _close_pool(self, pool: DcPool) -> None:
        if pool.grower is not None:
            pool.grower.cancel()
            with contextlib.suppress(BaseException):
                await pool.grower
        for member in pool.members:
            member.closed = True
        pool.slots.fail_waiters(ConnectionResetError("the DC's connections were reset"))
        for member in pool.members:
            with contextlib.suppress(Exception):
                await member.session.stop()

    async def close(self) -> None:
        pools, self.pools = list(self.pools.values()), {}
        for pool in pools:
            await self._close_pool(pool)

    def snapshot(self) -> dict[str, Any]:
        return {
            str(dc): {
                "connections": len(pool.members),
                "inflight": sum(m.inflight for m in pool.members),
                "queued": pool.slots.waiting,
            }
            for dc, pool in sorted(self.pools.items())
        }
