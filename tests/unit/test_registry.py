"""The DC pool: created once, keys and authorizations made once and persisted, grown to its
size, reset with or without its key, and its requests in flight counted until answered.

The pool reaches its bot's client only through the Connector interface; `Bot` below is an
in-memory Connector, so every test runs in-process against a real SQLite store.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pyrogram import errors

from tgstream.store import AuthKeyRecord
from tgstream.store import SqliteStore as Store
from tgstream.telegram.errors import FloodWaitTooLong, TelegramUnavailable
from tgstream.telegram.flood import FloodPolicy
from tgstream.telegram.registry import DcRegistry, Link, PooledSession

HOME, FOREIGN = 2, 4
BOT_ID = 42


class FakeLink:
    def __init__(self, dc: int, auth_key: bytes) -> None:
        self.dc, self.auth_key = dc, auth_key
        self.is_started = asyncio.Event()
        self.is_started.set()
        self.connection = object()
        self.stopped = False

    async def send(
        self,
        data: Any,
        wait_response: bool = True,
        timeout: float = 10,  # noqa: ASYNC109 - the Link interface is Kurigram's
    ) -> Any:
        return data

    async def stop(self) -> None:
        self.stopped = True


class Bot:
    """An in-memory Connector that records what it was asked to do."""

    def __init__(self) -> None:
        self.bot_id, self.home_dc = BOT_ID, HOME
        self.keys_made: list[int] = []
        self.links: list[FakeLink] = []
        self.exported: list[tuple[int, bytes]] = []
        self.imported: list[tuple[int, int, bytes]] = []
        self.export_errors: list[Exception] = []
        self._ids = itertools.count(1)

    async def home_auth_key(self) -> bytes:
        return b"home-key"

    async def new_auth_key(self, dc: int) -> bytes:
        self.keys_made.append(dc)
        return f"key-{dc}-{len(self.keys_made)}".encode()

    async def connect(self, dc: int, auth_key: bytes) -> Link:
        await asyncio.sleep(0)  # a round trip: concurrent callers really overlap
        link = FakeLink(dc, auth_key)
        self.links.append(link)
        return link

    async def export_authorization(self, dc: int) -> tuple[int, bytes]:
        if self.export_errors:
            raise self.export_errors.pop(0)
        exported = (next(self._ids), f"auth-for-{dc}".encode())
        self.exported.append(exported)
        return exported

    async def import_authorization(self, link: Link, id: int, data: bytes) -> None:
        assert (id, data) == self.exported[-1], "the import must get fresh exported bytes"
        assert isinstance(link, FakeLink)
        self.imported.append((link.dc, id, data))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path)
    yield store
    await store.close()


def registry(bot: Bot, store: Store, connections: int = 3) -> DcRegistry:
    return DcRegistry(bot, store, connections, requests_per_connection=2)


def link_of(member: PooledSession) -> FakeLink:
    assert isinstance(member.session, FakeLink)
    return member.session


async def settle(reg: DcRegistry, dc: int) -> None:
    grower = reg.pools[dc].grower
    assert grower is not None
    await grower


async def test_concurrent_first_requests_create_one_pool_with_one_key_and_import(
    store: Store,
) -> None:
    bot = Bot()
    reg = registry(bot, store)
    members = await asyncio.gather(*(reg.acquire(FOREIGN) for _ in range(4)))
    assert bot.keys_made == [FOREIGN] and len(bot.imported) == 1
    assert reg.keys_created == {FOREIGN: 1} and reg.imports == {FOREIGN: 1}
    record = await store.auth_key(BOT_ID, FOREIGN)
    assert record is not None and record.authorized
    assert all(link_of(m).auth_key == record.auth_key for m in members)
    await reg.close()


async def test_the_pool_grows_to_its_size_plus_the_lane_with_the_same_key(store: Store) -> None:
    bot = Bot()
    reg = registry(bot, store, connections=3)
    await reg.acquire(FOREIGN)
    await settle(reg, FOREIGN)
    members = reg.pools[FOREIGN].members
    assert len(members) == 4 and sum(m.lane for m in members) == 1
    assert {link.auth_key for link in bot.links} == {b"key-4-1"}
    assert bot.keys_made == [FOREIGN]  # more connections, no more handshakes
    await reg.close()
    assert all(link.stopped for link in bot.links)


async def test_a_restart_makes_no_key_and_no_import(store: Store) -> None:
    before = registry(Bot(), store)
    await before.acquire(FOREIGN)
    await before.close()
    again = Bot()
    reg = registry(again, store)
    await reg.acquire(FOREIGN)
    assert again.keys_made == [] and again.imported == []
    assert reg.keys_created == {} and reg.imports == {}
    await reg.close()


async def test_the_home_dc_uses_the_clients_own_key(store: Store) -> None:
    bot = Bot()
    reg = registry(bot, store)
    member = await reg.acquire(HOME)
    assert link_of(member).auth_key == b"home-key"
    assert bot.keys_made == [] and bot.imported == []
    await reg.close()


async def test_a_reset_with_the_key_dropped_makes_and_authorizes_a_new_one(store: Store) -> None:
    bot = Bot()
    reg = registry(bot, store)
    member = await reg.acquire(FOREIGN)
    reg.release(FOREIGN, member)
    await reg.reset(FOREIGN, member.generation, drop_key=True)
    assert await store.auth_key(BOT_ID, FOREIGN) is None and not reg.warm(FOREIGN)
    await reg.acquire(FOREIGN)
    assert bot.keys_made == [FOREIGN, FOREIGN] and len(bot.imported) == 2
    assert reg.keys_created == {FOREIGN: 2}
    await reg.close()


async def test_a_reset_keeping_the_key_only_reconnects(store: Store) -> None:
    bot = Bot()
    reg = registry(bot, store)
    member = await reg.acquire(FOREIGN)
    reg.release(FOREIGN, member)
    await reg.reset(FOREIGN, member.generation, drop_key=False)
    await reg.reset(FOREIGN, member.generation, drop_key=True)  # stale: already reset
    assert await store.auth_key(BOT_ID, FOREIGN) is not None
    await reg.acquire(FOREIGN)
    assert bot.keys_made == [FOREIGN] and len(bot.imported) == 1
    await reg.close()


async def test_requests_in_flight_are_counted_until_answered_across_a_reset(
    store: Store,
) -> None:
    bot = Bot()
    reg = registry(bot, store, connections=1)
    first = await reg.acquire(FOREIGN)
    second = await reg.acquire(FOREIGN)
    assert reg.inflight() == 2
    await reg.reset(FOREIGN, first.generation, drop_key=False)
    assert reg.inflight() == 2 and first.closed  # the reset pool's answers are still due
    reg.release(FOREIGN, first)
    assert reg.inflight() == 1
    newer = await reg.acquire(FOREIGN)
    assert reg.inflight() == 2
    reg.release(FOREIGN, second)
    reg.release(FOREIGN, newer)
    assert reg.inflight() == 0
    await reg.close()


async def test_a_long_flood_wait_on_the_export_benches_the_bot_and_fails_at_once(
    store: Store,
) -> None:
    bot = Bot()
    flood = FloodPolicy(threshold=10)
    reg = DcRegistry(bot, store, 2, flood=flood)
    bot.export_errors.append(errors.FloodWait(value=300))
    with pytest.raises(FloodWaitTooLong):
        await reg.acquire(FOREIGN)
    assert flood.waits == {"auth.exportAuthorization": 1}
    assert flood.blocked_for(BOT_ID, "auth.exportAuthorization") > 290
    assert bot.imported == [] and not reg.warm(FOREIGN)
    assert all(link.stopped for link in bot.links)


# --- the start-up's warm-up ------------------------------------------------------------------

KEPT, UNAUTHORIZED, KEYLESS = 4, 5, 1


async def keep_keys(store: Store) -> None:
    await store.save_auth_key(AuthKeyRecord(BOT_ID, KEPT, b"kept-4", True))
    await store.save_auth_key(AuthKeyRecord(BOT_ID, UNAUTHORIZED, b"half-5", False))


async def test_warm_up_opens_kept_keys_and_the_home_dc_and_makes_nothing(store: Store) -> None:
    await keep_keys(store)
    bot = Bot()
    reg = registry(bot, store)
    opened = await reg.warm_up([KEPT, HOME, UNAUTHORIZED, KEYLESS])
    assert opened == [KEPT, HOME]
    assert set(reg.pools) == {KEPT, HOME}
    # No handshake, no import: only the kept keys were used.
    assert bot.keys_made == [] and bot.imported == [] and bot.exported == []
    assert reg.keys_created == {} and reg.imports == {}
    assert {link.auth_key for link in bot.links} == {b"kept-4", b"home-key"}
    # An opened DC is not opened twice.
    assert await reg.warm_up([KEPT]) == [KEPT]
    await settle(reg, KEPT)
    links = len(bot.links)
    assert await reg.warm_up([KEPT]) == [KEPT] and len(bot.links) == links
    await reg.close()


async def test_a_request_during_the_warm_up_joins_its_creation(store: Store) -> None:
    await keep_keys(store)
    bot = Bot()
    reg = registry(bot, store, connections=3)
    warming = asyncio.create_task(reg.warm_up([KEPT]))
    await asyncio.sleep(0)  # the warm-up is connecting
    member = await reg.acquire(KEPT, urgent=True)
    assert await warming == [KEPT]
    await settle(reg, KEPT)
    # One pool: its first connection, the lane and two more; no second creation.
    assert len([link for link in bot.links if link.dc == KEPT]) == 4
    assert member.generation == reg.pools[KEPT].generation
    reg.release(KEPT, member)
    await reg.close()


async def test_a_dc_that_fails_to_open_is_left_to_its_first_request(store: Store) -> None:
    await keep_keys(store)

    class Down(Bot):
        async def connect(self, dc: int, auth_key: bytes) -> Link:
            if dc == KEPT:
                raise TelegramUnavailable("DC 4 is unreachable", 5)
            return await super().connect(dc, auth_key)

    bot = Down()
    reg = registry(bot, store)
    assert await reg.warm_up([KEPT, HOME]) == [HOME]
    assert KEPT not in reg.pools and not bot.keys_made
    await reg.close()


async def test_requests_viewers_wait_on_are_counted_by_dc_into_the_store(store: Store) -> None:
    bot = Bot()
    reg = registry(bot, store)
    for dc, urgent in ((FOREIGN, True), (FOREIGN, True), (FOREIGN, False), (HOME, True)):
        reg.release(dc, await reg.acquire(dc, urgent))
    assert reg.served == {FOREIGN: 2, HOME: 1}
    await reg.flush_served()
    assert reg.served == {}
    reg.release(FOREIGN, await reg.acquire(FOREIGN, urgent=True))
    await reg.flush_served()
    await reg.flush_served()  # nothing new: nothing added
    assert await store.dc_served() == {HOME: 1, FOREIGN: 3}
    await reg.close()


@pytest.mark.parametrize("turns", [0, 1, 2, 3, 5, 8])
async def test_closing_during_a_warm_up_leaves_no_pool_behind(store: Store, turns: int) -> None:
    """Closed `turns` turns of the loop into the warm-up: before it reads the key, while it
    connects, or after."""
    await keep_keys(store)
    bot = Bot()
    reg = registry(bot, store)
    warming = asyncio.create_task(reg.warm_up([KEPT]))
    for _ in range(turns):
        await asyncio.sleep(0)
    await reg.close()
    assert await warming in ([], [KEPT])  # never an exception, whenever it was cut
    assert reg.pools == {}
    assert all(link.stopped for link in bot.links)
