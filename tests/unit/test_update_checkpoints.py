"""The update state is stored only once every update it covers was handled.

The pure rules (Checkpoints) are checked against a reference for every order in which a few
workers can finish; the queue and the shared storage are then driven as Kurigram drives them
(a batch sets the pts before queueing its update, gap recovery queues before setting it).
"""

from __future__ import annotations

import asyncio
import itertools

import pytest
from pyrogram.storage.storage import UpdateState

from tgstream.store.records import SessionFields, UpdateStates
from tgstream.telegram.shared_session import SharedStorage
from tgstream.telegram.update_checkpoints import Checkpoints
from tgstream.telegram.update_client import HandledQueue


def test_nothing_is_ready_before_every_update_up_to_it_was_handled() -> None:
    points: Checkpoints[str] = Checkpoints()
    points.open()
    first, second = points.queue(), points.queue()
    points.close("after two")
    assert points.ready() is None
    points.done(second)
    assert points.ready() is None  # the first is still being handled
    points.done(first)
    assert points.ready() == "after two"
    assert points.ready() is None  # taken once


@pytest.mark.parametrize("order", list(itertools.permutations(range(1, 5))))
def test_every_finishing_order_stores_only_what_was_handled(order: tuple[int, ...]) -> None:
    """Four updates in two batches; whatever order the workers finish them in, the state
    stored is the newest whose updates all finished, and never one ahead of them."""
    points: Checkpoints[int] = Checkpoints()
    for batch in ((1, 2), (3, 4)):
        points.open()
        for expected in batch:
            assert points.queue() == expected
        points.close(batch[-1])  # the state names the last update it covers
    finished: set[int] = set()
    stored = 0
    for position in order:
        points.done(position)
        finished.add(position)
        ready = points.ready()
        if ready is not None:
            assert ready > stored
            stored = ready
        prefix = max((n for n in range(5) if set(range(1, n + 1)) <= finished), default=0)
        assert stored <= prefix
        assert stored == max((c for c in (2, 4) if c <= prefix), default=0)


def test_overlapping_batches_checkpoint_when_the_last_one_ends() -> None:
    points: Checkpoints[str] = Checkpoints()
    points.open()
    points.open()
    a = points.queue()
    points.close("half-way through the second batch")
    b = points.queue()
    points.close("both")
    points.done(a)
    assert points.ready() is None
    points.done(b)
    assert points.ready() == "both"
    assert points.pending == 0


def test_done_twice_or_from_before_a_reset_counts_once() -> None:
    points: Checkpoints[str] = Checkpoints()
    points.open()
    old = points.queue()
    points.close("old")
    points.reset()
    assert points.pending == 0 and points.open_batches == 0
    points.open()
    new = points.queue()
    points.close("new")
    points.done(old)
    points.done(old)
    assert points.ready() is None
    points.done(new)
    assert points.ready() == "new"
    points.done(new + 5)  # never handed out
    assert points.handled == new


class Recorded:
    """BotSessions keeping what was stored, in order."""

    def __init__(self) -> None:
        self.saved: list[UpdateStates] = []
        self.dropped: list[list[int]] = []
        self.current: UpdateStates = {}

    async def bot_session(self, bot_id: int) -> SessionFields:
        return {}

    async def save_bot_session(self, bot_id: int, fields: SessionFields) -> None:
        pass

    async def update_states(self, bot_id: int) -> UpdateStates:
        return dict(self.current)

    async def save_update_states(self, bot_id: int, states: UpdateStates) -> None:
        self.saved.append(dict(states))
        self.current.update(states)

    async def drop_update_states(self, bot_id: int, ids: list[int]) -> None:
        self.dropped.append(ids)
        for i in ids:
            self.current.pop(i, None)


async def storage_and_queue(
    recorded: Recorded, handles_updates: bool = True
) -> tuple[SharedStorage, HandledQueue]:
    storage = SharedStorage("bot-1", 1, recorded, handles_updates)
    await storage.open()
    queue = HandledQueue(storage)
    storage.queue = queue
    return storage, queue


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def pts(recorded: Recorded) -> int | None:
    return recorded.current.get(0, (None,))[0]


async def test_the_pts_of_an_update_is_stored_after_its_handler_not_before() -> None:
    recorded = Recorded()
    storage, queue = await storage_and_queue(recorded)
    recorded.current = {0: (10, 0, 1, 1)}
    await storage.reload_update_states()

    # Kurigram's handle_updates: the pts first, then the update queued.
    async with storage.batch():
        await storage.set_update_state(UpdateState(0, 11, None, None, None))
        queue.put_nowait(("update 11", {}, {}))
    await settle()
    assert pts(recorded) == 10  # received, not handled

    taken: list[str] = []

    async def worker() -> None:
        while (packet := await queue.get()) is not None:
            taken.append(packet[0])
            await asyncio.sleep(0.01)  # the handler at work

    task = asyncio.create_task(worker())
    await asyncio.sleep(0.001)
    assert taken == ["update 11"] and pts(recorded) == 10  # being handled
    await asyncio.sleep(0.05)
    assert pts(recorded) == 11  # the worker came back for more: handled

    # Gap recovery: updates queued first, then the state they end at.
    async with storage.batch():
        queue.put_nowait(("update 12", {}, {}))
        queue.put_nowait(("update 13", {}, {}))
        await storage.set_update_state(UpdateState(0, 13, None, 5, 2))
    await asyncio.sleep(0.05)
    assert recorded.current[0] == (13, 0, 5, 2)
    queue.put_nowait(None)
    await task
    await storage.close()


async def test_a_handler_that_never_comes_back_holds_the_state_back() -> None:
    recorded = Recorded()
    storage, queue = await storage_and_queue(recorded)
    async with storage.batch():
        await storage.set_update_state(UpdateState(0, 5, 0, 1, 1))
        queue.put_nowait(("update 5", {}, {}))

    stuck = asyncio.Event()

    async def worker() -> None:
        await queue.get()
        await stuck.wait()  # killed half-way, as far as the state can tell

    task = asyncio.create_task(worker())
    await asyncio.sleep(0.02)
    assert pts(recorded) is None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await settle()
    assert pts(recorded) is None  # never handled: the next leader fetches it again


async def test_outside_kurigram_update_handling_the_state_is_stored_at_once() -> None:
    recorded = Recorded()
    storage, _ = await storage_and_queue(recorded)
    await storage.set_update_state(UpdateState(0, 7, 1, 2, 3))
    assert recorded.current == {0: (7, 1, 2, 3)}
    await storage.set_update_state(UpdateState(-1005, 40, None, None, None))
    await storage.delete_update_state(-1005)
    assert recorded.current == {0: (7, 1, 2, 3)}
    assert [-1005] in recorded.dropped


async def test_a_take_over_forgets_what_was_queued_before_and_reads_the_state_again() -> None:
    recorded = Recorded()
    storage, queue = await storage_and_queue(recorded)
    async with storage.batch():
        await storage.set_update_state(UpdateState(0, 9, 0, 1, 1))
        queue.put_nowait(("update 9", {}, {}))
    recorded.current = {0: (8, 0, 1, 1)}  # what the last leader stored
    await storage.reload_update_states()
    assert (await storage.get_update_states(0))[0].pts == 8
    # The update still queued is numbered anew; handling it stores nothing it did not set.
    assert await queue.get() == ("update 9", {}, {})
    queue.put_nowait(None)
    await queue.get()
    await settle()
    assert recorded.saved == []


async def test_a_bot_that_handles_no_updates_stores_no_update_state() -> None:
    recorded = Recorded()
    storage, _ = await storage_and_queue(recorded, handles_updates=False)
    await storage.set_update_state(UpdateState(0, 3, 0, 1, 1))
    async with storage.batch():
        await storage.set_update_state(UpdateState(0, 4, None, None, None))
    await settle()
    assert recorded.saved == [] and storage.checkpoints.pending == 0
    assert (await storage.get_update_states(0))[0].pts == 4
