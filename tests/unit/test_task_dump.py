"""The SIGUSR1 task dump: each task's await chain down to what it waits on, counted."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from tgstream import task_dump


async def innermost(event: asyncio.Event) -> None:
    await event.wait()


async def middle(event: asyncio.Event) -> None:
    await innermost(event)


async def outer(event: asyncio.Event) -> None:
    await middle(event)


async def generated(event: asyncio.Event) -> None:
    async def pieces() -> AsyncIterator[int]:
        await event.wait()
        yield 1

    async for _ in pieces():
        pass


def chain_while_waiting(
    waits: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
) -> tuple[str, ...]:
    """The await chain of a task running `waits` while it waits on an event."""

    async def main() -> tuple[str, ...]:
        event = asyncio.Event()
        task = asyncio.create_task(waits(event))
        for _ in range(3):  # a task it starts runs too
            await asyncio.sleep(0)
        try:
            return task_dump.await_chain(task)
        finally:
            event.set()
            await task

    return asyncio.run(main())


def test_a_chain_names_every_coroutine_down_to_the_future() -> None:
    chain = chain_while_waiting(outer)
    names = [link.split(" ")[-1] for link in chain]
    assert names[:3] == ["outer", "middle", "innermost"]
    assert "wait" in names  # asyncio.Event.wait
    assert chain[-1] == "<Future>"
    assert chain[0].startswith(f"{__name__}:")


def test_async_generators_are_followed() -> None:
    names = [link.split(" ")[-1] for link in chain_while_waiting(generated)]
    assert names[:2] == ["generated", "pieces"]


def test_tasks_at_one_place_are_counted_as_one_most_common_first() -> None:
    async def main() -> list[tuple[int, tuple[str, ...]]]:
        event = asyncio.Event()
        tasks = [asyncio.create_task(outer(event)) for _ in range(5)]
        tasks += [asyncio.create_task(innermost(event)) for _ in range(2)]
        await asyncio.sleep(0)
        try:
            return task_dump.summary(set(tasks))
        finally:
            event.set()
            await asyncio.gather(*tasks)

    found = asyncio.run(main())
    assert [count for count, _ in found] == [5, 2]


def test_the_log_record_holds_every_chain(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        event = asyncio.Event()
        tasks = [asyncio.create_task(outer(event)) for _ in range(3)]
        await asyncio.sleep(0)
        task_dump.log_tasks()
        event.set()
        await asyncio.gather(*tasks)

    with caplog.at_level(logging.WARNING, logger="tgstream.tasks"):
        asyncio.run(main())
    (record,) = caplog.records
    assert getattr(record, "tasks") == 4  # noqa: B009 (the three and main itself)
    waiting = getattr(record, "waiting")  # noqa: B009
    assert any(line.startswith("3x ") and "innermost" in line for line in waiting)


def test_a_task_awaiting_a_task_shows_where_that_one_waits() -> None:
    async def waiter(event: asyncio.Event) -> None:
        await asyncio.create_task(outer(event))

    chain = chain_while_waiting(waiter)
    names = [link.split(" ")[-1] for link in chain]
    assert names[0] == "waiter" and "<Task>" in names and "innermost" in names
