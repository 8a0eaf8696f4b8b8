"""Which replica handles the main bot's updates, and switching them on and off in Kurigram.

On a shared state, replicas hold a lease (store/lease_rules.py says when to take, renew and
give it up; store/lease_redis.py talks to Redis).  The leader runs Kurigram's update
handlers; the others run the client with updates off (every call wrapped in
invokeWithoutUpdates, no handler tasks, no gap recovery) and serve downloads only.  On
taking over, a replica reads the update state the last leader left in the shared store and
has Kurigram catch up from it with updates.getDifference before handling new updates.

One server (SQLite) is always the leader, with no lease, as before replicas existed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from prometheus_client.core import GaugeMetricFamily, Metric
from pyrogram import raw
from pyrogram.storage.storage import UpdateState

from ..store.lease_rules import (
    Action,
    Lease,
    Outcome,
    Role,
    Timing,
    after,
    due,
    stepped_down,
    wake_at,
)
from .bots import BotClient
from .shared_session import SharedStorage

log = logging.getLogger("tgstream.telegram.leader")


class LeaseIO(Protocol):
    holder: str

    async def acquire(self) -> Outcome: ...

    async def renew(self) -> Outcome: ...

    async def release(self) -> bool: ...


class Leadership:
    def __init__(
        self,
        bot: BotClient,
        lease: LeaseIO | None,
        timing: Timing,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot = bot
        self.io = lease
        self.timing = timing
        self.clock = clock
        self.lease = Lease() if lease is not None else Lease(Role.LEADER, 0)
        self.take_overs = 0
        self._catching_up: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping: asyncio.Task[None] | None = None
        if lease is not None:
            # Updates off until the lease is ours.
            self.bot.client.no_updates = True
            self.bot.client.skip_updates = True

    @property
    def leading(self) -> bool:
        return self.lease.leading

    def fence(self) -> int | None:
        """The fencing token to write and answer under; None on a standby."""
        return self.lease.fence if self.lease.leading else None

    def status(self) -> dict[str, Any]:
        if self.io is None:
            return {"role": Role.LEADER.value, "holder": None, "fence": None, "lease": None}
        holder = self.io.holder if self.leading else self.lease.holder
        return {
            "role": self.lease.role.value,
            "holder": holder,
            "fence": self.lease.fence,
            "lease": self.timing.lease,
            "take_overs": self.take_overs,
        }

    # --- the lease loop -------------------------------------------------------------------

    def start(self) -> None:
        """Once the main bot is signed in: a lease held by a replica that cannot answer
        would leave the users unanswered."""
        if self.io is not None and self._task is None:
            self._task = asyncio.create_task(self._run(self.io))

    async def _run(self, io: LeaseIO) -> None:
        while True:
            now = self.clock()
            action = due(self.lease, now, self.timing)
            if action is Action.WAIT:
                if not self.leading:
                    self._drain()
                await asyncio.sleep(max(0.0, wake_at(self.lease, self.timing) - now))
                continue
            if action is Action.STEP_DOWN:
                log.warning("lease could not be renewed in time: standing by")
                await self._step_down()
                self.lease = stepped_down(self.lease, self.clock(), self.timing)
                continue
            sent = self.clock()
            outcome = await (io.acquire() if action is Action.ACQUIRE else io.renew())
            was_leading = self.leading
            self.lease = after(self.lease, outcome, sent, self.clock(), self.timing)
            if self.leading and not was_leading:
                self.take_overs += 1
                log.info("leading: handling the bot's updates", extra={"fence": self.lease.fence})
                self._catching_up = asyncio.create_task(self._take_over())
            elif was_leading and not self.leading:
                log.warning("lease lost: standing by", extra={"holder": self.lease.holder})
                await self._step_down()

    async def stop(self) -> None:
        """On a clean shutdown: stop handling, and release the lease for another at once
        (called as soon as the signal comes, and again when the server is done: once)."""
        if self._stopping is None:
            self._stopping = asyncio.create_task(self._stop())
        await self._stopping

    async def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self.io is not None and self.leading:
            await self._step_down()
            self.lease = stepped_down(self.lease, self.clock(), self.timing)
            if await self.io.release():
                log.info("lease released")

    # --- Kurigram's updates on and off ----------------------------------------------------

    async def _take_over(self) -> None:
        client = self.bot.client
        storage = client.storage
        try:
            # Drained first: what a standby was sent is neither handled nor counted.
            self._drain()
            if isinstance(storage, SharedStorage):
                await storage.reload_update_states()
            client.no_updates = False
            client.skip_updates = False
            if not await storage.get_update_states(0):
                # The first leader on a fresh state: from now on.
                state = await client.invoke(raw.functions.updates.GetState())
                await storage.set_update_state(
                    UpdateState(0, state.pts, state.qts, state.date, state.seq)
                )
            # Handler tasks, then getDifference from the stored state (Kurigram's gap
            # recovery, which queues what it finds for the handlers).
            await client.dispatcher.start()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Another replica may manage: give the lease up rather than hold it unanswering.
            log.error("take-over failed: standing by", extra={"error": repr(exc)})
            await self._stop_handlers()
            self.lease = stepped_down(self.lease, self.clock(), self.timing)
            if self.io is not None:
                await self.io.release()

    async def _step_down(self) -> None:
        if self._catching_up is not None and not self._catching_up.done():
            self._catching_up.cancel()
            with contextlib.suppress(BaseException):
                await self._catching_up
        await self._stop_handlers()

    async def _stop_handlers(self) -> None:
        client = self.bot.client
        client.no_updates = True
        client.skip_updates = True
        # Updates not yet handled are left to the next leader (its getDifference, or the
        # marks if they were half answered), so none is started now.
        self._drain()
        dispatcher = client.dispatcher
        tasks = list(dispatcher.handler_worker_tasks)
        for _ in tasks:
            dispatcher.updates_queue.put_nowait(None)
        if tasks:
            _, slow = await asyncio.wait(tasks, timeout=self.timing.guard)
            for task in slow:
                task.cancel()
        dispatcher.handler_worker_tasks.clear()
        dispatcher.locks_list.clear()
        if isinstance(client.storage, SharedStorage):
            client.storage.forget_pending()

    def _drain(self) -> None:
        """Updates a standby was sent anyway are not its to handle (nor to keep)."""
        queue = self.bot.client.dispatcher.updates_queue
        while not queue.empty():
            queue.get_nowait()

    # --- /metrics (a collector with no describe(): its names are not checked up front) ----

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "tgstream_leader",
            "1 while this replica handles the bot's updates (holds the lease), else 0",
            value=1 if self.leading else 0,
        )
        yield GaugeMetricFamily(
            "tgstream_leader_fence",
            "The fencing token of the lease this replica holds (0: none, or one server)",
            value=self.lease.fence or 0,
        )
