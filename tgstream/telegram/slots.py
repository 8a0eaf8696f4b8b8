"""Request slots on one DC's connections: a few requests outstanding per connection, the rest
waiting here, first parts of streams ahead of bulk parts.

A connection answers its requests in order at its own speed, so requests beyond the few that
keep it busy only wait in Telegram's queue.  There a viewer who leaves cannot take them back,
and a new viewer's first part queues behind them.  Waiting here instead costs nothing: a
cancelled waiter never reaches Telegram, and an urgent request overtakes bulk ones.  A slot
is held until the answer arrives, even when its requester has given up, because until then
the connection is still busy sending it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar


class Member(Protocol):
    inflight: int
    last_used: int
    lane: bool  # reserved for urgent requests (a stream's first part)


M = TypeVar("M", bound=Member)


@dataclass(order=True)
class _Waiter(Generic[M]):
    rank: int
    seq: int
    future: asyncio.Future[M] = field(compare=False)


class SlotQueue(Generic[M]):
    def __init__(self, per_member: int) -> None:
        if per_member < 1:
            raise ValueError("per_member must be at least 1")
        self.per_member = per_member
        self.members: list[M] = []
        self._waiters: list[_Waiter[M]] = []
        self._seq = itertools.count()
        self._uses = itertools.count(1)

    @property
    def waiting(self) -> int:
        return sum(not w.future.done() for w in self._waiters)

    def add(self, member: M) -> None:
        self.members.append(member)
        self._wake()

    def _free(self, urgent: bool) -> M | None:
        """The member to send on now, or None: urgent requests try the lane first, bulk
        requests never use it; among the rest the least loaded, then the least recently used,
        so a request avoids connections still busy with answers nobody wants any more."""
        if urgent:
            for member in self.members:
                if member.lane and member.inflight < self.per_member:
                    return member
        free = [m for m in self.members if not m.lane and m.inflight < self.per_member]
        if not free:
            return None
        return min(free, key=lambda m: (m.inflight, m.last_used))

    def _take(self, member: M) -> M:
        member.inflight += 1
        member.last_used = next(self._uses)
        return member

    async def acquire(self, urgent: bool = False) -> M:
        rank = 0 if urgent else 1
        ahead = any(w.rank <= rank and not w.future.done() for w in self._waiters)
        member = None if ahead else self._free(urgent)
        if member is not None:
            return self._take(member)
        waiter = _Waiter[M](rank, next(self._seq), asyncio.get_running_loop().create_future())
        heapq.heappush(self._waiters, waiter)
        try:
            return await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                # Handed a slot in the same instant we were cancelled: give it back.
                self.release(waiter.future.result())
            raise

    def release(self, member: M) -> None:
        member.inflight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            head = self._waiters[0]
            if head.future.done():
                heapq.heappop(self._waiters)
                continue
            member = self._free(urgent=head.rank == 0)
            if member is None:
                # Urgent waiters come first and may use any member; if the head cannot be
                # served, no one behind it can.
                return
            heapq.heappop(self._waiters)
            head.future.set_result(self._take(member))

    def fail_waiters(self, exc: BaseException) -> None:
        """The pool is gone: every waiter gets `exc` (it retries on a new pool)."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.future.done():
                waiter.future.set_exception(exc)
