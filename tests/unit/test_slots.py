"""The slot queue: per-connection caps, urgent before bulk, FIFO, the lane, cancellation."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from tgstream.telegram.slots import SlotQueue


@dataclass(eq=False)
class Conn:
    name: str
    lane: bool = False
    inflight: int = 0
    last_used: int = 0


def make(per_member: int = 2, bulk: int = 2, lane: bool = True) -> SlotQueue[Conn]:
    queue: SlotQueue[Conn] = SlotQueue(per_member)
    for index in range(bulk):
        queue.add(Conn(f"c{index}"))
    if lane:
        queue.add(Conn("lane", lane=True))
    return queue


async def test_spreads_over_connections_up_to_the_cap_and_never_puts_bulk_on_the_lane() -> None:
    queue = make(per_member=2, bulk=2)
    taken = [await queue.acquire() for _ in range(4)]
    assert sorted(c.name for c in taken) == ["c0", "c0", "c1", "c1"]
    assert taken[0] is not taken[1]  # least loaded first
    waiter = asyncio.ensure_future(queue.acquire())
    await asyncio.sleep(0)
    assert not waiter.done() and queue.waiting == 1
    queue.release(taken[0])
    assert (await waiter) is taken[0]


async def test_least_recently_used_breaks_ties() -> None:
    queue = make(per_member=1, bulk=3, lane=False)
    first = await queue.acquire()
    queue.release(first)
    second = await queue.acquire()
    assert second is not first  # the idle-longest connection, not the one just used


async def test_urgent_takes_the_lane_then_overtakes_bulk_waiters() -> None:
    queue = make(per_member=1, bulk=1)
    bulk = await queue.acquire()
    assert bulk.name == "c0"
    lane = await queue.acquire(urgent=True)
    assert lane.name == "lane"
    late_bulk = asyncio.ensure_future(queue.acquire())
    late_urgent = asyncio.ensure_future(queue.acquire(urgent=True))
    await asyncio.sleep(0)
    queue.release(bulk)
    await asyncio.sleep(0)
    assert late_urgent.done() and (await late_urgent) is bulk
    assert not late_bulk.done()
    queue.release(lane)  # the lane frees: still not for bulk
    await asyncio.sleep(0)
    assert not late_bulk.done()
    queue.release(bulk)
    assert (await late_bulk) is bulk


async def test_fifo_within_a_rank() -> None:
    queue = make(per_member=1, bulk=1, lane=False)
    held = await queue.acquire()
    order: list[int] = []

    async def want(index: int) -> None:
        conn = await queue.acquire()
        order.append(index)
        queue.release(conn)

    tasks = [asyncio.ensure_future(want(i)) for i in range(5)]
    await asyncio.sleep(0)
    queue.release(held)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]


async def test_a_cancelled_waiter_never_gets_a_slot_and_leaks_none() -> None:
    queue = make(per_member=1, bulk=1, lane=False)
    held = await queue.acquire()
    gone = asyncio.ensure_future(queue.acquire())
    stays = asyncio.ensure_future(queue.acquire())
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    queue.release(held)
    conn = await stays
    assert conn.inflight == 1 and queue.waiting == 0
    queue.release(conn)
    assert conn.inflight == 0


async def test_cancelled_just_as_it_was_served_gives_the_slot_back() -> None:
    queue = make(per_member=1, bulk=1, lane=False)
    held = await queue.acquire()
    waiter = asyncio.ensure_future(queue.acquire())
    await asyncio.sleep(0)
    queue.release(held)  # hands the slot to the waiter ...
    waiter.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert held.inflight == 0


async def test_new_members_wake_waiters_and_a_closed_pool_fails_them() -> None:
    queue: SlotQueue[Conn] = SlotQueue(1)
    waiter = asyncio.ensure_future(queue.acquire())
    await asyncio.sleep(0)
    queue.add(Conn("late"))
    assert (await waiter).name == "late"
    doomed = asyncio.ensure_future(queue.acquire())
    await asyncio.sleep(0)
    queue.fail_waiters(ConnectionResetError("pool closed"))
    with pytest.raises(ConnectionResetError):
        await doomed


def test_per_member_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SlotQueue(0)
