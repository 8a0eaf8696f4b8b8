"""Where every asyncio task of the server waits, logged on SIGUSR1.

A server that stops answering with an idle event loop is waiting on something that never
comes; a thread dump (py-spy) shows only the loop's select.  The await chain of each task
names the very await: `kill -USR1 <pid>` logs them, tasks with the same chain counted as
one line, the most common first, so a thousand viewers stuck at one place read as one.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections import Counter
from types import FrameType
from typing import Any

log = logging.getLogger("tgstream.tasks")

# Deep enough for the web layer down to a socket read; deeper chains are cut.
_MAX_DEPTH = 40
# Distinct chains logged; the rest are counted in one line.
_MAX_CHAINS = 30


def _frame_of(awaitable: Any) -> FrameType | None:
    for name in ("cr_frame", "gi_frame", "ag_frame"):
        frame = getattr(awaitable, name, None)
        if frame is not None:
            return frame  # type: ignore[no-any-return]
    return None


def _awaited_by(awaitable: Any) -> Any:
    for name in ("cr_await", "gi_yieldfrom", "ag_await"):
        inner = getattr(awaitable, name, None)
        if inner is not None:
            return inner
    return None


def _inside(awaitable: Any) -> Any:
    """What a wrapper without attributes of its own stands for: an async generator's
    `anext` (asend/athrow) is its generator, a future's iterator is its future; found among
    the objects it refers to, since neither exposes them."""
    for inner in gc.get_referents(awaitable):
        if isinstance(inner, asyncio.Future) or hasattr(inner, "ag_frame"):
            return inner
    return None


def await_chain(task: asyncio.Task[Any]) -> tuple[str, ...]:
    """The task's awaits from its coroutine down to what it waits on: one
    `module:line function` per coroutine, then the kind of the innermost awaitable."""
    chain: list[str] = []
    awaitable: Any = task.get_coro()
    while awaitable is not None and len(chain) < _MAX_DEPTH:
        frame = _frame_of(awaitable)
        if isinstance(awaitable, asyncio.Task):
            # Awaiting another task: where that one waits is where this one does.
            chain.append("<Task>")
            awaitable = awaitable.get_coro()
            continue
        if frame is None:
            inner = None if isinstance(awaitable, asyncio.Future) else _inside(awaitable)
            if inner is not None:
                awaitable = inner
                continue
            chain.append(f"<{type(awaitable).__name__}>")
            break
        code = frame.f_code
        module = frame.f_globals.get("__name__", "?")
        chain.append(f"{module}:{frame.f_lineno} {code.co_name}")
        awaitable = _awaited_by(awaitable)
    return tuple(chain)


def summary(tasks: set[asyncio.Task[Any]]) -> list[tuple[int, tuple[str, ...]]]:
    """(count, chain) for each distinct chain among unfinished tasks, most common first."""
    counts = Counter(await_chain(task) for task in tasks if not task.done())
    return sorted(((n, chain) for chain, n in counts.items()), key=lambda item: -item[0])


def log_tasks() -> None:
    """One record (the rate limit would cut a record per chain): the tasks' count and each
    distinct chain, outermost call first, with how many tasks wait there."""
    chains = summary(asyncio.all_tasks())
    shown = [f"{n}x " + " -> ".join(chain) for n, chain in chains[:_MAX_CHAINS]]
    rest = sum(n for n, _ in chains[_MAX_CHAINS:])
    if rest:
        shown.append(f"{rest}x elsewhere")
    log.warning("asyncio tasks", extra={"tasks": sum(n for n, _ in chains), "waiting": shown})


def install(loop: asyncio.AbstractEventLoop) -> None:
    """Log the tasks on SIGUSR1 (where the platform has it)."""
    usr1 = getattr(signal, "SIGUSR1", None)
    if usr1 is not None:
        loop.add_signal_handler(usr1, log_tasks)
