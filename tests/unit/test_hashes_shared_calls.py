"""FileHashes: the calls to upload.getFileHashes that parts share.  Parts in the same 1 MiB
stretch of a file share one call; a part a viewer waits on never waits for a bulk part's
call, which may still queue behind other bulk parts, but asks as urgently as it is needed."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from tgstream.store import FileInfo
from tgstream.telegram.hash_ranges import Coverage, HashRange
from tgstream.telegram.hashes import FileHashes

KiB = 1 << 10
MiB = 1 << 20
RANGE = 128 * KiB
DATA = bytes(range(256)) * (3 * MiB // 256)
INFO = FileInfo(7, 70, 1, b"ref", 4, len(DATA), "video/mp4", "a.mp4", "document", "", 0)


class Telegram:
    """getFileHashes over DATA as Telegram answers it (eight 128 KiB ranges from the one
    holding the offset); each call waits until the test lets it answer."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, bool]] = []
        self.gate = asyncio.Event()

    async def ask(self, info: FileInfo, offset: int, urgent: bool) -> list[HashRange]:
        self.calls.append((offset, urgent))
        await self.gate.wait()
        start = offset - offset % RANGE
        return [
            HashRange(
                at, len(DATA[at : at + RANGE]), hashlib.sha256(DATA[at : at + RANGE]).digest()
            )
            for at in range(start, min(start + 8 * RANGE, len(DATA)), RANGE)
        ]


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_parts_of_one_stretch_share_a_call() -> None:
    async def run() -> list[Coverage]:
        telegram = Telegram()
        hashes = FileHashes(telegram.ask)
        waiting = [
            asyncio.create_task(hashes.coverage(INFO, at, at + RANGE))
            for at in (0, RANGE, MiB // 2)
        ]
        await _settle()
        assert telegram.calls == [(0, False)]
        telegram.gate.set()
        found = await asyncio.gather(*waiting)
        assert telegram.calls == [(0, False)]
        return found

    found = asyncio.run(run())
    assert [c.ranges[0].offset for c in found] == [0, RANGE, MiB // 2]


def test_an_urgent_part_asks_urgently_and_does_not_wait_for_a_bulk_call() -> None:
    async def run() -> None:
        telegram = Telegram()
        hashes = FileHashes(telegram.ask)
        bulk = asyncio.create_task(hashes.coverage(INFO, 0, MiB))
        await _settle()
        urgent = asyncio.create_task(hashes.coverage(INFO, RANGE, 2 * RANGE, urgent=True))
        await _settle()
        assert telegram.calls == [(0, False), (RANGE, True)]
        # A bulk part now joins the urgent call rather than asking again.
        later = asyncio.create_task(hashes.coverage(INFO, 2 * RANGE, 3 * RANGE))
        await _settle()
        assert len(telegram.calls) == 2
        telegram.gate.set()
        await asyncio.gather(bulk, urgent, later)
        assert hashes.pending == {}

    asyncio.run(run())


def test_an_urgent_call_is_shared_by_the_next_urgent_part() -> None:
    async def run() -> None:
        telegram = Telegram()
        hashes = FileHashes(telegram.ask)
        first = asyncio.create_task(hashes.coverage(INFO, MiB, MiB + RANGE, urgent=True))
        second = asyncio.create_task(hashes.coverage(INFO, MiB + RANGE, MiB + 2 * RANGE, True))
        await _settle()
        assert telegram.calls == [(MiB, True)]
        telegram.gate.set()
        await asyncio.gather(first, second)

    asyncio.run(run())


def test_a_failed_call_fails_its_sharers_and_the_next_part_asks_again() -> None:
    async def run() -> None:
        calls = 0

        async def failing(info: FileInfo, offset: int, urgent: bool) -> list[HashRange]:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0)
            raise ConnectionError("gone")

        hashes = FileHashes(failing)
        results = await asyncio.gather(
            hashes.coverage(INFO, 0, RANGE),
            hashes.coverage(INFO, RANGE, 2 * RANGE),
            return_exceptions=True,
        )
        assert all(isinstance(r, ConnectionError) for r in results)
        assert calls == 1 and hashes.pending == {}
        with pytest.raises(ConnectionError):
            await hashes.coverage(INFO, 0, RANGE)
        assert calls == 2

    asyncio.run(run())


def test_a_call_just_answered_that_misses_the_position_is_asked_again_not_spun_on() -> None:
    """The call for a later position of a stretch has answered, its bookkeeping not yet run,
    when a part earlier in the stretch (which the answer does not hold) looks: it must ask
    for itself.  Awaiting the finished call yields nothing to the loop, so looking again and
    again spun the event loop for ever (the whole server stopped answering)."""

    async def run() -> tuple[list[tuple[int, bool]], Coverage]:
        telegram = Telegram()
        hashes = FileHashes(telegram.ask)
        looks = 0
        book_coverage = hashes.book.coverage

        def counted(media_id: int, start: int, stop: int) -> Coverage | int:
            nonlocal looks
            looks += 1
            if looks > 50:
                raise RuntimeError("the coverage is looked up in a loop that never yields")
            return book_coverage(media_id, start, stop)

        hashes.book.coverage = counted  # type: ignore[method-assign]
        later = asyncio.create_task(hashes.coverage(INFO, 4 * RANGE, 5 * RANGE))
        await _settle()

        async def earlier_once_answered() -> Coverage:
            # Woken by the same gate right after the call's own task: the call has returned
            # when this runs, and its done-callbacks are still queued behind it.
            await telegram.gate.wait()
            return await hashes.coverage(INFO, RANGE, 2 * RANGE)

        earlier = asyncio.create_task(earlier_once_answered())
        await _settle()
        telegram.gate.set()
        await later
        return telegram.calls, await earlier

    calls, found = asyncio.run(run())
    assert calls == [(4 * RANGE, False), (RANGE, False)]
    assert found.ranges[0].offset == RANGE
