"""The part pipeline: order, bounded read-ahead that grows while the viewer waits and
shrinks while it lags, and cancellation of everything in flight when the viewer leaves."""

from __future__ import annotations

import asyncio

import pytest

from tgstream.streaming.pipeline import ShortPart, ordered_parts
from tgstream.streaming.plan import Part, plan_parts

MiB = 1 << 20


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
    parts = plan_parts(0, 40 * MiB - 1, 40 * MiB)
    upstream = Upstream()
    got = [piece[0] async for piece in ordered_parts(parts, upstream.fetch, in_flight=16)]
    assert got == [i % 256 for i in range(40)]
    assert upstream.peak == 16


async def test_a_slow_viewer_keeps_the_read_ahead_small() -> None:
    parts = plan_parts(0, 20 * MiB - 1, 20 * MiB)
    upstream = Upstream(delay=0.001)
    async for _ in ordered_parts(parts, upstream.fetch, in_flight=16):
        await asyncio.sleep(0.02)  # the viewer is ten times slower than Telegram
    assert upstream.peak <= 4


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
