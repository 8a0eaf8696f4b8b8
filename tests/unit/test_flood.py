"""The flood policy: benches per bot and method, what was slept or failed over, persistence."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

from tgstream.telegram.flood import FloodPolicy

GET_FILE = "upload.getFile"
EXPORT = "auth.exportAuthorization"


@dataclass
class MemoryStore:
    rows: dict[tuple[int, str], float] = field(default_factory=dict)

    def flood_deadlines(self) -> list[tuple[int, str, float]]:
        return [(bot, method, until) for (bot, method), until in self.rows.items()]

    def save_flood_deadline(self, bot_id: int, method: str, until: float) -> None:
        self.rows[(bot_id, method)] = until


def test_a_bench_holds_one_bot_on_one_method() -> None:
    flood = FloodPolicy(threshold=10)
    flood.bench(1, GET_FILE, 30)
    assert 29 < flood.blocked_for(1, GET_FILE) <= 30
    assert flood.blocked_for(2, GET_FILE) == 0
    assert flood.blocked_for(1, EXPORT) == 0


def test_waits_are_counted_by_method_and_by_what_became_of_them() -> None:
    flood = FloodPolicy(threshold=10)
    flood.bench(1, GET_FILE, 5)  # short: slept by the request
    flood.bench(1, GET_FILE, 50)  # long: neither slept nor failed over (503)
    flood.bench(2, EXPORT, 5, failover=True)  # another bot took it
    assert flood.waits == {GET_FILE: 2, EXPORT: 1}
    assert (flood.waits_slept, flood.failovers) == (1, 1)


def test_a_shorter_wait_never_shortens_a_bench() -> None:
    store = MemoryStore()
    flood = FloodPolicy(threshold=10, store=store)
    flood.bench(1, GET_FILE, 60)
    saved = store.rows[(1, GET_FILE)]
    flood.bench(1, GET_FILE, 1)
    assert flood.blocked_for(1, GET_FILE) > 59
    assert store.rows[(1, GET_FILE)] == saved


def test_a_bench_ends_and_is_forgotten() -> None:
    flood = FloodPolicy(threshold=10)
    flood.bench(1, GET_FILE, 0.05)
    assert [(bot, method) for bot, method, _ in flood.benched()] == [(1, GET_FILE)]
    time.sleep(0.06)
    assert flood.blocked_for(1, GET_FILE) == 0
    assert flood.benched() == [] and flood.blocked == {}


def test_a_restart_keeps_the_benches_still_running() -> None:
    store = MemoryStore()
    FloodPolicy(threshold=10, store=store).bench(1, EXPORT, 2800)
    store.rows[(2, GET_FILE)] = time.time() - 5  # already over
    restarted = FloodPolicy(threshold=10, store=store)
    assert restarted.blocked_for(1, EXPORT) == pytest.approx(2800, abs=1)
    assert restarted.blocked_for(2, GET_FILE) == 0
    assert restarted.waits == {}  # a restart sees no new wait
