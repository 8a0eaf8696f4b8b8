"""Per bot, a pool of authorized MTProto connections to each DC.

A pool is created on first need, once (concurrent first requests wait for the same
creation), from the auth key persisted for that bot and DC when there is one.  A new key is
authorized by auth.exportAuthorization on the home DC and auth.importAuthorization on the
target DC, never by a second bot login, and persisted with its authorization, so a restart
makes no handshake and no import.  AUTH_KEY_UNREGISTERED drops the key and builds anew;
a connection that stops answering is replaced, key kept.  Failures of the export, the
import or the connection are decided by the failure policy; a long flood wait on either
call benches the bot for that call (persisted), and the creation fails at once with it.
The bot's client is reached through a narrow Connector (connector.py for Kurigram).

`warm_up` opens chosen DCs' pools at start-up, before anyone asks, only where the key is
persisted and authorized (or is the home DC's): no handshake, no import.  A request that
arrives meanwhile joins the creation under way.  The requests viewers waited on are counted
by DC (`served`) for the store, which is how the next start-up knows whom to open.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

from ..store import AuthKeyRecord, StateStore
from . import calls
from .errors import TelegramUnavailable, UpstreamRejected
from .flood import FloodPolicy
from .policy import EXPORT_AUTHORIZATION, IMPORT_AUTHORIZATION, UNAVAILABLE_RETRY_AFTER
from .slots import SlotQueue

log = logging.getLogger("tgstream.telegram.registry")

_CREATE_TRIES = 3


class Link(Protocol):
    """One connection to a DC with an auth key (a Kurigram Session)."""

    is_started: asyncio.Event
    connection: object

    # Kurigram's signature, timeout included.
    async def send(
        self,
        data: Any,
        wait_response: bool = ...,
        timeout: float = ...,  # noqa: ASYNC109
    ) -> Any: ...

    async def stop(self) -> None: ...


class Connector(Protocol):
    """What a pool needs of its bot's client (connector.py has it for Kurigram)."""

    @property
    def bot_id(self) -> int: ...

    @property
    def home_dc(self) -> int: ...

    async def home_auth_key(self) -> bytes: ...

    async def new_auth_key(self, dc: int) -> bytes: ...

    async def connect(self, dc: int, auth_key: bytes) -> Link: ...

    async def export_authorization(self, dc: int) -> tuple[int, bytes]: ...

    async def import_authorization(self, link: Link, id: int, data: bytes) -> None: ...


@dataclass(eq=False)  # a connection is itself, whatever its counts
class PooledSession:
    session: Link
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
        connector: Connector,
        store: StateStore,
        connections_per_dc: int,
        requests_per_connection: int = 2,
        flood: FloodPolicy | None = None,
    ) -> None:
        self.connector = connector
        self.store = store
        self.connections_per_dc = connections_per_dc
        self.requests_per_connection = requests_per_connection
        self.flood = flood or FloodPolicy(threshold=10)
        self.pools: dict[int, DcPool] = {}
        self._creating: dict[int, asyncio.Task[DcPool]] = {}
        # Auth keys made (handshakes) and authorizations imported, by DC.
        self.keys_created: Counter[int] = Counter()
        self.imports: Counter[int] = Counter()
        # Members of reset pools still carrying requests: in flight until answered.
        self._retired: list[PooledSession] = []
        self._generations = itertools.count(1)
        # Requests a viewer waited on (first parts, their hashes, thumbnails), by DC, not
        # yet added to the store's counts (`flush_served`).
        self.served: Counter[int] = Counter()
        # Set by `close`: no pool is made after it (a warm-up may still be on its way).
        self.closed = False

    def warm(self, dc: int) -> bool:
        return dc in self.pools

    async def acquire(self, dc: int, urgent: bool = False) -> PooledSession:
        """A request slot on an authorized session of a DC (the pool is created on first
        use); hand it back with `release` once the answer is in."""
        if urgent:
            self.served[dc] += 1
        pool = self.pools.get(dc)
        if pool is None:
            # Shielded: one caller giving up must not abort the creation others wait for.
            pool = await asyncio.shield(self._creation(dc))
        return await pool.slots.acquire(urgent)

    def _creation(self, dc: int) -> asyncio.Task[DcPool]:
        """The creation of `dc`'s pool under way, or a new one."""
        task = self._creating.get(dc)
        # A finished one (its entry goes in a callback still queued) failed, or the pool
        # would be in `pools`: awaiting it again yields nothing to the loop, so a caller
        # that retries on its failure could spin without that callback ever running.
        if task is None or task.done():
            task = asyncio.create_task(self._create_pool(dc))
            self._creating[dc] = task
            task.add_done_callback(lambda done: self._created(dc, done))
        return task

    def _created(self, dc: int, task: asyncio.Task[DcPool]) -> None:
        if self._creating.get(dc) is task:
            del self._creating[dc]

    async def warm_up(self, dcs: list[int]) -> list[int]:
        """Open the pools of `dcs` that can be opened from what is kept: the home DC's key
        (once signed in: `home_dc` is known then), or a persisted authorized key; the DCs
        opened.  Never raises: a DC that fails is left to its first request, as without a
        warm-up."""
        bot = self.connector

        async def openable(dc: int) -> bool:
            if dc == bot.home_dc:
                return True
            record = await self.store.auth_key(bot.bot_id, dc)
            return record is not None and record.authorized

        async def one(dc: int) -> bool:
            try:
                if self.closed:
                    return False
                if dc not in self.pools and not await openable(dc):
                    log.info("no key to warm up with", extra={"bot_id": bot.bot_id, "dc": dc})
                    return False
                if dc not in self.pools:
                    await asyncio.shield(self._creation(dc))
            except Exception as exc:  # its first request will try again
                log.warning("warm-up failed", extra={"dc": dc, "error": repr(exc)})
                return False
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if self.closed and task is not None and not task.cancelling():
                    return False  # the registry closed under it, not this warm-up
                raise
            return True

        opened = await asyncio.gather(*(one(dc) for dc in dcs))
        warm = [dc for dc, ok in zip(dcs, opened, strict=True) if ok]
        log.info("DC pools warm", extra={"bot_id": bot.bot_id, "dcs": warm})
        return warm

    async def flush_served(self) -> None:
        """Add the counts since the last flush to the store's (which never raises on a
        write: one that fails is kept or counted there)."""
        counts, self.served = dict(self.served), Counter()
        if counts:
            await self.store.add_dc_served(counts)

    def release(self, dc: int, member: PooledSession) -> None:
        pool = self.pools.get(dc)
        if pool is not None and pool.generation == member.generation:
            pool.slots.release(member)
        else:
            member.inflight -= 1  # its pool was reset; nobody waits on it any more
            if member.inflight == 0 and member in self._retired:
                self._retired.remove(member)

    def inflight(self) -> int:
        """Requests sent on this bot's connections and not answered yet, reset pools'
        included: their connections are still busy with them."""
        members = [m for pool in self.pools.values() for m in pool.members] + self._retired
        return sum(m.inflight for m in members)

    async def _create_pool(self, dc: int) -> DcPool:
        for attempt in range(1, _CREATE_TRIES + 1):
            try:
                return await self._try_create_pool(dc)
            except (TelegramUnavailable, UpstreamRejected):
                raise  # already decided by the policy
            except Exception as exc:  # unreachable, timed out, or failing oddly
                log.warning("DC connection failed", extra={"dc": dc, "error": repr(exc)})
                if attempt == _CREATE_TRIES:
                    raise TelegramUnavailable(
                        f"DC {dc} is unreachable", UNAVAILABLE_RETRY_AFTER
                    ) from None
                await asyncio.sleep(min(1.0 * attempt, 3.0))
        raise AssertionError("unreachable")

    async def _try_create_pool(self, dc: int) -> DcPool:
        bot = self.connector
        if dc == bot.home_dc:
            # The home DC key is the client's own, authorized at sign-in and kept by Kurigram.
            auth_key = await bot.home_auth_key()
            authorized = True
        else:
            record = await self.store.auth_key(bot.bot_id, dc)
            if record is None:
                auth_key = await bot.new_auth_key(dc)
                await self.store.save_auth_key(AuthKeyRecord(bot.bot_id, dc, auth_key, False))
                self.keys_created[dc] += 1
                authorized = False
            else:
                auth_key, authorized = record.auth_key, record.authorized
        session = await bot.connect(dc, auth_key)
        try:
            if not authorized:
                await self._import_authorization(dc, session)
                await self.store.save_auth_key(AuthKeyRecord(bot.bot_id, dc, auth_key, True))
        except BaseException:
            await stop_quietly(session)
            raise
        if self.closed:
            await stop_quietly(session)
            raise ConnectionResetError("the DC registry was closed")
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

    async def _import_authorization(self, dc: int, session: Link) -> None:
        """Export on the home DC, import on `dc`; every failure of either (AUTH_BYTES_INVALID,
        a flood wait, a timeout) is decided by the policy, and the import always gets bytes
        exported for it (they are single use and may have expired during a wait)."""
        bot = self.connector

        async def export_then_import() -> None:
            exported = await calls.call(
                EXPORT_AUTHORIZATION,
                bot.bot_id,
                lambda: bot.export_authorization(dc),
                self.flood,
            )
            await bot.import_authorization(session, *exported)

        await calls.call(IMPORT_AUTHORIZATION, bot.bot_id, export_then_import, self.flood)
        self.imports[dc] += 1

    async def _grow(self, pool: DcPool) -> None:
        """More connections with the same key: no handshake, no import, more bandwidth.
        All are opened at once (each costs a round trip); the lane is one of them."""

        async def one(lane: bool) -> None:
            try:
                session = await self.connector.connect(pool.dc, pool.auth_key)
            except Exception as exc:  # the pool works with fewer connections
                log.warning("extra connection failed", extra={"dc": pool.dc, "error": repr(exc)})
                return
            if self.pools.get(pool.dc) is not pool:
                await stop_quietly(session)
                return
            pool.slots.add(PooledSession(session, pool.generation, lane=lane))

        missing = self.connections_per_dc - len(pool.members)
        await asyncio.gather(one(lane=True), *(one(lane=False) for _ in range(missing)))

    async def reset(self, dc: int, generation: int, drop_key: bool) -> None:
        """Close this DC's connections; the next acquire opens new ones.  With `drop_key`
        (AUTH_KEY_UNREGISTERED and the like) the key is forgotten too and a new one is made
        and authorized (on the home DC, the client must sign in again)."""
        pool = self.pools.get(dc)
        if pool is None or pool.generation != generation:
            return  # someone already reset it
        del self.pools[dc]
        log.warning("DC pool reset", extra={"dc": dc, "new_key": drop_key or None})
        if drop_key and dc != self.connector.home_dc:
            await self.store.drop_auth_key(self.connector.bot_id, dc)
        await self._close_pool(pool)

    async def _close_pool(self, pool: DcPool) -> None:
        for member in pool.members:
            member.closed = True
        self._retired += [m for m in pool.members if m.inflight > 0]
        if pool.grower is not None:
            pool.grower.cancel()
            with contextlib.suppress(BaseException):
                await pool.grower
        pool.slots.fail_waiters(ConnectionResetError("the DC's connections were reset"))
        for member in pool.members:
            await stop_quietly(member.session)

    async def close(self) -> None:
        self.closed = True
        # Creations under way (a warm-up's, at a stop during start-up) would add pools after.
        creating = list(self._creating.values())
        for task in creating:
            task.cancel()
        for task in creating:
            with contextlib.suppress(BaseException):
                await task
        pools, self.pools = list(self.pools.values()), {}
        for pool in pools:
            await self._close_pool(pool)


async def stop_quietly(link: Link) -> None:
    with contextlib.suppress(Exception):
        await link.stop()
