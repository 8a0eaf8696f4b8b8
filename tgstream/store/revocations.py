"""Whether a message's links were revoked, read through the store with a short memory.

Every link request asks, before anything costs a Telegram call.  The answer is kept
`TTL` seconds per message (at most `LIMIT` messages, the oldest forgotten first), so a
burst of seeks on one file costs one store read, and a revoke made by `tgstream revoke`,
the bot, or another replica is obeyed everywhere within `TTL` seconds.  When the store
cannot answer (Redis down), the last answer known goes on serving; a message never asked
about answers 503 (SharedStateDown), since nobody can tell whether it was revoked.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from .interface import StateStore
from .problems import SharedStateDown

TTL = 2.0
LIMIT = 10_000


class Revocations:
    def __init__(
        self,
        store: StateStore,
        ttl: float = TTL,
        limit: int = LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.limit = limit
        self.clock = clock
        self._known: OrderedDict[int, tuple[bool, float]] = OrderedDict()

    async def revoked(self, message_id: int) -> bool:
        now = self.clock()
        known = self._known.get(message_id)
        if known is not None and now - known[1] < self.ttl:
            return known[0]
        try:
            revoked = await self.store.is_revoked(message_id)
        except SharedStateDown:
            if known is None:
                raise
            return known[0]
        self._known[message_id] = (revoked, now)
        self._known.move_to_end(message_id)
        while len(self._known) > self.limit:
            self._known.popitem(last=False)
        return revoked

    async def set(self, message_id: int, revoked: bool) -> None:
        """Revoke (or restore) here: this process obeys at once, the others within TTL."""
        await self.store.set_revoked(message_id, revoked)
        self._known[message_id] = (revoked, self.clock())
        self._known.move_to_end(message_id)

    def __len__(self) -> int:
        return len(self._known)
