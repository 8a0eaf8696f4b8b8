"""The disk tier under the part cache: parts kept across a restart, the budget held within one
part under churn, least recently used out first, a damaged part dropped and fetched again,
and a directory that cannot be written turning the tier off with one log line while every
viewer still gets exact bytes."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tgstream.streaming.cache import PartCache
from tgstream.streaming.disk_tier import DiskTier, disk_key, seal, unseal

MiB = 1 << 20


def part_bytes(media_id: int, offset: int, size: int) -> bytes:
    seed = hashlib.sha256(f"{media_id}:{offset}".encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


class Upstream:
    """Telegram's stand-in for the part cache: exact bytes per key, each fetch counted."""

    def __init__(self) -> None:
        self.fetches = 0

    def part(self, key: tuple[int, int, int]) -> Callable[[], Awaitable[bytes]]:
        async def fetch() -> bytes:
            self.fetches += 1
            return part_bytes(key[0], key[1], key[2])

        return fetch


@pytest.fixture
async def opened(tmp_path: Path) -> AsyncIterator[Callable[[int], DiskTier]]:
    tiers: list[DiskTier] = []

    def make(budget: int) -> DiskTier:
        tier = DiskTier(tmp_path / "cache", budget)
        tier.open()
        tiers.append(tier)
        return tier

    yield make
    for tier in tiers:
        await tier.close()


async def settle(tier: DiskTier) -> None:
    while tier.writes:
        await asyncio.gather(*list(tier.writes))


def files_bytes(directory: Path) -> int:
    """Bytes of the part files on disk (the index aside)."""
    return sum(
        p.stat().st_size
        for p in directory.rglob("*")
        if p.is_file() and not p.name.startswith("cache.db")
    )


def test_keys_are_telegram_ids_not_objects() -> None:
    assert disk_key((5, 1 * MiB, MiB)) == (f"5:{MiB}:{MiB}", 5)
    assert disk_key((5, 0)) is None
    assert disk_key(("x", 0, 1)) is None
    assert disk_key((True, 0, 1)) is None
    assert disk_key(object()) is None
    # What is made from a file: a word after the media id keeps it apart from any part.
    assert disk_key((5, "hls", "a1", 3)) == ("5:hls:a1:3", 5)
    assert disk_key((5, "thumb", "m")) == ("5:thumb:m", 5)
    assert disk_key((5, 0, "m")) is None  # an int where the word goes: not a part either
    assert disk_key((5, "hls", "a:1", 3)) is None  # no colon inside a name's field
    assert disk_key((5, "hls", "", 3)) is None
    assert disk_key((5, "hls", 1.5, 3)) is None
    assert disk_key((5, "x" * 33, 1)) is None


def test_seal_records_the_hash_and_notices_damage() -> None:
    data = part_bytes(1, 0, 1000)
    stored = seal(data)
    assert unseal(stored) == data
    damaged = bytearray(stored)
    damaged[500] ^= 1
    assert unseal(bytes(damaged)) is None
    assert unseal(stored[:10]) is None
    assert unseal(seal(b"")) == b""


async def test_parts_survive_a_restart(opened: Callable[[int], DiskTier]) -> None:
    first, up = opened(64 * MiB), Upstream()
    cache = PartCache(0, first)
    keys = [(7, i * MiB, MiB) for i in range(4)]
    for key in keys:
        assert await cache.get(key, up.part(key)) == part_bytes(*key)
    await first.close()
    assert up.fetches == 4 and first.bytes_written == 4 * MiB

    again = PartCache(0, opened(64 * MiB))
    for key in keys:
        assert await again.get(key, up.part(key)) == part_bytes(*key)
    assert up.fetches == 4
    assert again.disk.hits == 4 and again.disk.bytes_read == 4 * MiB


async def test_the_budget_holds_within_one_part_under_churn(
    opened: Callable[[int], DiskTier], tmp_path: Path
) -> None:
    budget = 8 * MiB
    tier, up = opened(budget), Upstream()
    cache = PartCache(0, tier)
    for media_id in range(20):  # 20 files of 3 parts, 60 MiB through an 8 MiB budget
        for index in range(3):
            key = (media_id, index * MiB, MiB)
            assert await cache.get(key, up.part(key)) == part_bytes(*key)
            await settle(tier)
            assert tier.used <= budget + MiB
            assert files_bytes(tmp_path / "cache") <= budget + MiB
    assert tier.evictions > 0
    assert tier.bytes_written == 60 * MiB


async def test_the_least_recently_used_part_goes_first(opened: Callable[[int], DiskTier]) -> None:
    tier, up = opened(24 * MiB), Upstream()
    cache = PartCache(0, tier)
    popular = (1, 0, MiB)
    await cache.get(popular, up.part(popular))
    for media_id in range(2, 40):
        key = (media_id, 0, MiB)
        await cache.get(key, up.part(key))
        await settle(tier)
        await cache.get(popular, up.part(popular))  # read again: recently used
    assert tier.evictions > 0
    fetched = up.fetches
    assert await cache.get(popular, up.part(popular)) == part_bytes(*popular)
    assert up.fetches == fetched  # still on disk
    oldest = (2, 0, MiB)
    await cache.get(oldest, up.part(oldest))
    assert up.fetches == fetched + 1  # long gone


async def test_a_part_damaged_on_disk_is_dropped_and_refetched(
    opened: Callable[[int], DiskTier], tmp_path: Path
) -> None:
    tier, up = opened(64 * MiB), Upstream()
    cache = PartCache(0, tier)
    key = (3, 0, MiB)
    await cache.get(key, up.part(key))
    await settle(tier)
    (stored,) = [p for p in (tmp_path / "cache").rglob("*.val")]
    with stored.open("r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))

    assert await cache.get(key, up.part(key)) == part_bytes(*key)
    assert tier.corrupt == 1 and up.fetches == 2
    await settle(tier)  # written again, sound this time
    assert await cache.get(key, up.part(key)) == part_bytes(*key)
    assert up.fetches == 2 and tier.hits == 1


async def test_a_directory_that_cannot_be_made_leaves_ram_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"not a directory")
    tier = DiskTier(blocker / "cache", 64 * MiB)
    with caplog.at_level(logging.WARNING, "tgstream.disk_tier"):
        tier.open()
        cache, up = PartCache(MiB, tier), Upstream()
        key = (1, 0, 1000)
        assert await cache.get(key, up.part(key)) == part_bytes(*key)
    assert tier.state == "degraded"
    assert len(caplog.records) == 1
    await tier.close()


async def test_write_errors_turn_the_tier_off_with_one_line(
    opened: Callable[[int], DiskTier], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tier, up = opened(64 * MiB), Upstream()
    cache = PartCache(0, tier)
    directory = tmp_path / "cache"
    # Every folder a part file could go into becomes a file: each write now fails with an
    # OSError, as a full or read-only disk would make it.
    for name in os.listdir(directory):
        path = directory / name
        if path.is_dir():
            path.rmdir()
    for first in "0123456789abcdef":
        for second in "0123456789abcdef":
            (directory / f"{first}{second}").write_bytes(b"")
    with caplog.at_level(logging.WARNING, "tgstream.disk_tier"):
        for media_id in range(5):
            key = (media_id, 0, 100 * 1024)
            assert await cache.get(key, up.part(key)) == part_bytes(*key)
            await settle(tier)
    assert tier.state == "degraded"
    assert [r.getMessage() for r in caplog.records] == [
        "disk cache off, serving from RAM and Telegram only"
    ]
    assert up.fetches == 5


async def test_a_viewer_who_leaves_cancels_the_disk_read(
    opened: Callable[[int], DiskTier],
) -> None:
    tier, up = opened(64 * MiB), Upstream()
    keys = [(9, i * MiB, MiB) for i in range(8)]
    writer = PartCache(0, tier)
    for key in keys:
        await writer.get(key, up.part(key))
    await settle(tier)

    cache = PartCache(0, tier)
    viewers = [asyncio.create_task(cache.get(key, up.part(key))) for key in keys]
    await asyncio.sleep(0)
    for viewer in viewers:
        viewer.cancel()
    for viewer in viewers:
        with pytest.raises(asyncio.CancelledError):
            await viewer
    await asyncio.sleep(0.1)
    assert cache.flights == {} and cache.inflight == 0
    assert up.fetches == 8  # nothing went to Telegram for the viewers who left
    assert await cache.get(keys[0], up.part(keys[0])) == part_bytes(*keys[0])


async def test_off_when_the_budget_is_zero(tmp_path: Path) -> None:
    tier = DiskTier(tmp_path / "cache", 0)
    tier.open()
    cache, up = PartCache(0, tier), Upstream()
    key = (1, 0, 10)
    await cache.get(key, up.part(key))
    await cache.get(key, up.part(key))
    assert tier.state == "off" and up.fetches == 2
    assert not (tmp_path / "cache").exists()
