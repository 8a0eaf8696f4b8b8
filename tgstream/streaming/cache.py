"""A shared part cache: a byte budget, least recently used out first, and single flight, so
viewers of the same file fetch each part from Telegram once.  Under it, a disk tier: a part
missing from RAM is looked for there before Telegram is asked, and a part fetched from
Telegram is written there (disk_tier.py)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable

from .disk_tier import DiskTier


class _Flight:
    __slots__ = ("task", "waiters")

    def __init__(self, task: asyncio.Task[bytes]) -> None:
        self.task = task
        self.waiters = 0


class PartCache:
    def __init__(self, budget_bytes: int, disk: DiskTier | None = None) -> None:
        self.budget = budget_bytes
        self.disk = disk if disk is not None else DiskTier.off()
        self.size = 0
        self.entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self.flights: dict[Hashable, _Flight] = {}
        self.hits = 0
        self.misses = 0
        self.shared = 0

    async def get(self, key: Hashable, fetch: Callable[[], Awaitable[bytes]]) -> bytes:
        data = self.entries.get(key)
        if data is not None:
            self.entries.move_to_end(key)
            self.hits += 1
            return data
        flight = self.flights.get(key)
        if flight is None:
            self.misses += 1
            flight = _Flight(asyncio.create_task(self._fill(key, fetch)))
            self.flights[key] = flight
        else:
            self.shared += 1
        flight.waiters += 1
        try:
            # Shielded: a viewer who leaves must not cancel a fetch others still wait for...
            return await asyncio.shield(flight.task)
        finally:
            flight.waiters -= 1
            # ...but when nobody waits any more, the upstream request is cancelled.
            if flight.waiters == 0 and not flight.task.done():
                flight.task.cancel()
                self.flights.pop(key, None)

    async def _fill(self, key: Hashable, fetch: Callable[[], Awaitable[bytes]]) -> bytes:
        try:
            # Inside the flight: viewers of the same part share the disk read too, and it
            # is cancelled with the flight when the last of them leaves.
            data = await self.disk.read(key)
            if data is None:
                data = await fetch()
                await self.disk.write(key, data)
        finally:
            self.flights.pop(key, None)
        self._store(key, data)
        return data

    def _store(self, key: Hashable, data: bytes) -> None:
        if len(data) > self.budget:
            return
        old = self.entries.pop(key, None)
        if old is not None:
            self.size -= len(old)
        self.entries[key] = data
        self.size += len(data)
        while self.size > self.budget:
            _, evicted = self.entries.popitem(last=False)
            self.size -= len(evicted)

    def drop(self, owner: Hashable) -> None:
        """Forget every part whose key starts with `owner` (a file that is gone), on disk
        too."""
        if isinstance(owner, int):
            self.disk.forget(owner)
        for key in [k for k in self.entries if isinstance(k, tuple) and k and k[0] == owner]:
            self.size -= len(self.entries.pop(key))

    @property
    def inflight(self) -> int:
        """Parts being fetched from Telegram right now."""
        return len(self.flights)
