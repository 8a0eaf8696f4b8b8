"""The part cache: hits and misses, one fetch per part however many wait, the byte budget,
least recently used out first, and fetches cancelled only when nobody waits any more."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from tgstream.streaming.cache import PartCache


class Upstream:
    """Parts by key; each fetch is counted and may be held until released."""

    def __init__(self) -> None:
        self.fetches: list[object] = []
        self.cancelled: list[object] = []
        self.gate = asyncio.Event()
        self.gate.set()

    def part(self, key: tuple[int, int], size: int = 10) -> Callable[[], Awaitable[bytes]]:
        async def fetch() -> bytes:
            self.fetches.append(key)
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.cancelled.append(key)
                raise
            return bytes([key[1] % 256]) * size

        return fetch


async def test_a_second_read_is_a_hit() -> None:
    cache, up = PartCache(1000), Upstream()
    first = await cache.get((1, 0), up.part((1, 0)))
    second = await cache.get((1, 0), up.part((1, 0)))
    assert first == second == b"\x00" * 10
    assert up.fetches == [(1, 0)]
    assert (cache.hits, cache.misses, cache.shared) == (1, 1, 0)
    assert (cache.size, len(cache.entries)) == (10, 1)


async def test_viewers_of_the_same_part_share_one_fetch() -> None:
    cache, up = PartCache(1000), Upstream()
    up.gate.clear()
    readers = [asyncio.ensure_future(cache.get((1, 3), up.part((1, 3)))) for _ in range(5)]
    await asyncio.sleep(0)
    assert cache.inflight == 1
    up.gate.set()
    assert {await r for r in readers} == {b"\x03" * 10}
    assert up.fetches == [(1, 3)]
    assert (cache.misses, cache.shared, cache.inflight) == (1, 4, 0)


async def test_the_budget_evicts_the_least_recently_used() -> None:
    cache, up = PartCache(30), Upstream()
    for index in range(3):
        await cache.get((1, index), up.part((1, index)))
    await cache.get((1, 0), up.part((1, 0)))  # part 0 is now the most recent
    await cache.get((1, 3), up.part((1, 3)))
    assert list(cache.entries) == [(1, 2), (1, 0), (1, 3)]
    assert cache.size == 30


async def test_a_part_larger_than_the_budget_is_served_but_not_kept() -> None:
    cache, up = PartCache(5), Upstream()
    assert await cache.get((1, 0), up.part((1, 0), size=6)) == b"\x00" * 6
    assert cache.size == 0 and not cache.entries


async def test_a_budget_of_zero_keeps_nothing() -> None:
    cache, up = PartCache(0), Upstream()
    await cache.get((1, 0), up.part((1, 0)))
    await cache.get((1, 0), up.part((1, 0)))
    assert len(up.fetches) == 2 and cache.hits == 0


async def test_drop_forgets_one_files_parts() -> None:
    cache, up = PartCache(1000), Upstream()
    for key in ((1, 0), (1, 1), (2, 0)):
        await cache.get(key, up.part(key))
    cache.drop(1)
    assert list(cache.entries) == [(2, 0)] and cache.size == 10


async def test_the_fetch_goes_on_while_anyone_waits_and_stops_when_nobody_does() -> None:
    cache, up = PartCache(1000), Upstream()
    up.gate.clear()
    leaver = asyncio.ensure_future(cache.get((1, 0), up.part((1, 0))))
    stayer = asyncio.ensure_future(cache.get((1, 0), up.part((1, 0))))
    await asyncio.sleep(0)
    leaver.cancel()
    await asyncio.sleep(0)
    assert up.cancelled == [] and cache.inflight == 1
    up.gate.set()
    assert await stayer == b"\x00" * 10

    up.gate.clear()
    alone = asyncio.ensure_future(cache.get((1, 1), up.part((1, 1))))
    await asyncio.sleep(0)
    alone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await alone
    await asyncio.sleep(0)
    assert up.cancelled == [(1, 1)] and cache.inflight == 0


async def test_a_failed_fetch_is_not_cached() -> None:
    cache = PartCache(1000)

    async def broken() -> bytes:
        raise ConnectionResetError("lost")

    with pytest.raises(ConnectionResetError):
        await cache.get((1, 0), broken)
    assert cache.inflight == 0 and not cache.entries
    up = Upstream()
    assert await cache.get((1, 0), up.part((1, 0))) == b"\x00" * 10
    assert cache.misses == 2
