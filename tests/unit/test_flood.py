"""The flood policy: benches per bot and method, what was slept or failed over, persistence."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest

from tgstream.telegram.flood import FloodPolicy

GET_FILE = "upload.getFile"
EXPORT = "auth.exportAuthorization"


@dataclass
class MemoryStore:
    rows: dict[tuple[int, str], float] = field(default_factory=dict)
    shared: bool = False
    reads: int = 0

    async def flood_deadlines(self) -> list[tuple[int, str, float]]:
        return [(bot, method, until) for (bot, method), until in self.rows.items()]

    async def flood_deadline(self, bot_id: int, method: str) -> float | None:
        self.reads += 1
        return self.rows.get((bot_id, method))

    async def save_flood_deadline(self, bot_id: int, method: str, until: float) -> None:
        self.rows[(bot_id, method)] = until


async def test_a_bench_holds_one_bot_on_one_method() -> None:
    flood = FloodPolicy(threshold=10)
    await flood.bench(1, GET_FILE, 30)
    assert 29 < flood.blocked_for(1, GET_FILE) <= 30
    assert flood.blocked_for(2, GET_FILE) == 0
    assert flood.blocked_for(1, EXPORT) == 0


async def test_waits_are_counted_by_method_and_by_what_became_of_them() -> None:
    flood = FloodPolicy(threshold=10)
    await flood.bench(1, GET_FILE, 5)  # short: slept by the request
    await flood.bench(1, GET_FILE, 50)  # long: neither slept nor failed over (503)
    await flood.bench(2, EXPORT, 5, failover=True)  # another bot took it
    assert flood.waits == {GET_FILE: 2, EXPORT: 1}
    assert (flood.waits_slept, flood.failovers) == (1, 1)


async def test_a_shorter_wait_never_shortens_a_bench() -> None:
    store = MemoryStore()
    flood = FloodPolicy(threshold=10, store=store)
    await flood.bench(1, GET_FILE, 60)
    saved = store.rows[(1, GET_FILE)]
    await flood.bench(1, GET_FILE, 1)
    assert flood.blocked_for(1, GET_FILE) > 59
    assert store.rows[(1, GET_FILE)] == saved


async def test_a_bench_ends_and_is_forgotten() -> None:
    flood = FloodPolicy(threshold=10)
    await flood.bench(1, GET_FILE, 0.05)
    assert [(bot, method) for bot, method, _ in flood.benched()] == [(1, GET_FILE)]
    await asyncio.sleep(0.06)
    assert flood.blocked_for(1, GET_FILE) == 0
    assert flood.benched() == [] and flood.blocked == {}


async def test_a_restart_keeps_the_benches_still_running() -> None:
    store = MemoryStore()
    await FloodPolicy(threshold=10, store=store).bench(1, EXPORT, 2800)
    store.rows[(2, GET_FILE)] = time.time() - 5  # already over
    restarted = FloodPolicy(threshold=10, store=store)
    await restarted.load()
    assert restarted.blocked_for(1, EXPORT) == pytest.approx(2800, abs=1)
    assert restarted.blocked_for(2, GET_FILE) == 0
    assert restarted.waits == {}  # a restart sees no new wait


async def test_a_deadline_another_replica_was_given_is_read_before_calling() -> None:
    store = MemoryStore(shared=True)
    mine, theirs = FloodPolicy(threshold=10, store=store), FloodPolicy(threshold=10, store=store)
    await theirs.bench(1, GET_FILE, 300)
    assert mine.blocked_for(1, GET_FILE) == 0  # not known until read
    await mine.refresh(1, 2, method=GET_FILE)
    assert mine.blocked_for(1, GET_FILE) == pytest.approx(300, abs=1)
    assert mine.blocked_for(2, GET_FILE) == 0
    assert store.reads == 2
    assert mine.waits == {}  # another replica's wait is not one this one saw


async def test_an_unshared_store_is_never_read_again() -> None:
    store = MemoryStore()
    flood = FloodPolicy(threshold=10, store=store)
    await flood.refresh(1, method=GET_FILE)
    assert store.reads == 0
