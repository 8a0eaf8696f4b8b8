"""The revocation check's memory: TTL, bound, and what it does while the store is down."""

from __future__ import annotations

from pathlib import Path

import pytest

from tgstream.store import SharedStateDown, SqliteStore
from tgstream.store.revocations import Revocations


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Counting(SqliteStore):
    """The SQLite store, counting reads, and made to fail on demand as Redis would."""

    reads = 0
    down = False

    async def is_revoked(self, message_id: int) -> bool:
        self.reads += 1
        if self.down:
            raise SharedStateDown("test", "down", 5.0)
        return await super().is_revoked(message_id)


@pytest.fixture
def store(tmp_path: Path) -> Counting:
    return Counting(tmp_path)


async def test_answers_are_kept_ttl_seconds(store: Counting) -> None:
    clock = Clock()
    seen = Revocations(store, ttl=2.0, clock=clock)
    other = Revocations(store, ttl=2.0, clock=clock)  # another process on the same state
    assert not await seen.revoked(7)
    await other.set(7, True)
    assert await other.revoked(7)  # its own revoke: at once
    assert not await seen.revoked(7)  # the other's memory: until TTL
    assert store.reads == 1
    clock.now += 2.0
    assert await seen.revoked(7)
    assert store.reads == 2


async def test_memory_is_bounded(store: Counting) -> None:
    seen = Revocations(store, limit=3, clock=Clock())
    for message_id in range(10):
        await seen.revoked(message_id)
    assert len(seen) == 3
    await seen.revoked(9)
    assert store.reads == 10  # the newest is still known
    await seen.revoked(0)
    assert store.reads == 11  # the oldest was forgotten


async def test_a_store_that_is_down_leaves_the_last_answer(store: Counting) -> None:
    clock = Clock()
    seen = Revocations(store, clock=clock)
    await store.set_revoked(3, True)
    assert await seen.revoked(3)
    store.down = True
    clock.now += 60
    assert await seen.revoked(3)  # stale, but the last word known
    with pytest.raises(SharedStateDown):
        await seen.revoked(4)  # never known: nobody can say
