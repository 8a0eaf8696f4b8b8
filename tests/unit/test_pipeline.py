"""The part pipeline: order, read-ahead that grows with what the viewer has taken (up to the
cap), nothing refetched that the caller holds, and cancellation of everything in flight when
the viewer leaves."""

from __future__ import annotations

import asyncio

import pytest

from tgstream.streaming.pipeline import Pipeline, ShortPart, ordered_parts
from tgstream.streaming.plan import Part, plan_parts
from tgstream.streaming.readahead import allowance

MiB = 1 << 20
KiB = 1 << 10


class Upstream:
    """A fake fetch that answers each part after `delay`, tracking what is in flight."""

    def __init__(self, delay: float = 0.01) -> None:
        self.delay = delay
        self.inflight = 0
        self.peak = 0
        self.started: list[int] = []
        self.cancelled = 0

    async def fetch(self, part: Part) -> bytes:
        self.started.append(part.offset)
        self.inflight += 1
        self.peak = max(self.peak, self.inflight)
        try:
            await asyncio.sleep(self.delay)
            return bytes([part.offset // MiB % 256]) * part.limit
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.inflight -= 1


async def test_parts_come_in_order_and_read_ahead_grows_to_the_cap() -> None:
    parts = plan_parts(0, 100 * MiB - 1, 100 * MiB)
    upstream = Upstream()
    got = [piece[0] async for piece in ordered_parts(parts, upstream.fetch, in_flight=16)]
    assert got == [i % 256 for i in range(100)]
    assert upstream.peak == 16


async def test_read_ahead_follows_what_the_viewer_took_not_how_long_it_waited() -> None:
    parts = plan_parts(0, 20 * MiB - 1, 20 * MiB)
    upstream = Upstream(delay=0.05)  # the viewer waits on every part at first
    taken = 0
    async for piece in ordered_parts(parts, upstream.fetch, in_flight=16):
        # Started: what was taken, the part being taken, and no more than the allowance.
        assert len(upstream.started) * MiB <= taken + MiB + allowance(taken)
        taken += len(piece)
    assert len(upstream.started) == 20


async def test_a_held_first_part_is_not_fetched_again_and_progress_starts_parts() -> None:
    parts = plan_parts(0, 8 * MiB - 1, 8 * MiB, first_part_size=128 * KiB)
    upstream = Upstream()
    pipeline = Pipeline(parts, upstream.fetch, in_flight=16, in_hand=1)
    pipeline.advance(64 * KiB)  # half of the primed part is out
    await asyncio.sleep(0)
    # The ladder within the floor (the next 128 KiB part), not the primed part again.
    assert upstream.started == [128 * KiB]
    assert bytes(await pipeline.slice(1)) == bytes([0]) * 128 * KiB
    await pipeline.close()
    assert upstream.inflight == 0


async def test_leaving_early_cancels_what_is_in_flight_and_fetches_little() -> None:
    parts = plan_parts(0, 100 * MiB - 1, 100 * MiB)
    upstream = Upstream()
    stream = ordered_parts(parts, upstream.fetch, in_flight=16)
    assert (await anext(stream))[0] == 0
    await stream.aclose()
    assert upstream.inflight == 0
    assert len(upstream.started) <= 4  # not the whole read-ahead of 16


async def test_a_short_part_is_an_error() -> None:
    async def short(part: Part) -> bytes:
        return b"x"

    with pytest.raises(ShortPart):
        async for _ in ordered_parts(plan_parts(0, MiB - 1, 2 * MiB), short, in_flight=2):
            pass


async def test_in_flight_must_be_positive() -> None:
    with pytest.raises(ValueError):
        async for _ in ordered_parts([], Upstream().fetch, in_flight=0):
            pass


async def test_a_part_in_hand_asked_for_after_all_is_fetched() -> None:
    parts = plan_parts(0, 2 * MiB - 1, 2 * MiB)
    upstream = Upstream()
    pipeline = Pipeline(parts, upstream.fetch, in_flight=4, in_hand=1)
    assert bytes(await pipeline.slice(0))[:1] == b"\0"
    assert bytes(await pipeline.slice(1))[:1] == b"\1"
    assert sorted(upstream.started) == [0, MiB]
    await pipeline.close()


async def test_parts_queued_for_a_connection_never_reach_upstream_once_the_viewer_leaves() -> None:
    """One connection slot: parts wait for it in turn; a viewer who leaves (a seek) cancels
    those still waiting, so only what had the slot was ever sent."""
    slot = asyncio.Semaphore(1)
    sent: list[int] = []

    async def fetch(part: Part) -> bytes:
        async with slot:
            sent.append(part.offset)
            await asyncio.sleep(0.01)
            return bytes(part.limit)

    parts = plan_parts(0, 64 * MiB - 1, 64 * MiB)
    pipeline = Pipeline(parts, fetch, in_flight=16)
    for index in range(16):
        await pipeline.slice(index)
    pipeline.advance(16 * MiB)  # the viewer has taken 16 parts: 4 MiB may be ahead
    assert sorted(pipeline.tasks) == [16, 17, 18, 19]
    await asyncio.sleep(0)  # part 16 takes the slot; 17..19 wait for it
    await pipeline.close()
    await asyncio.sleep(0.05)
    # Those waiting for the slot were dropped before they were sent.
    assert sent == [i * MiB for i in range(17)]
