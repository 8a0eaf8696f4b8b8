"""File -> DC: taken from the document's dc_id, corrected by FILE_MIGRATE_X, persisted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..store import SharedStateDown


class DcStore(Protocol):
    async def dc_of(self, media_id: int) -> int | None: ...

    async def set_dc(self, media_id: int, dc: int, learned: bool) -> None: ...


class _Located(Protocol):
    @property
    def media_id(self) -> int: ...

    @property
    def dc(self) -> int: ...


@dataclass
class DcMap:
    store: DcStore
    lookups: int = 0
    # FILE_MIGRATE_X answers, each of which taught the map a file's DC.
    learned: int = 0
    # Asked once per part: memory answers, the store only remembers across restarts and
    # between replicas.
    known: dict[int, int] = field(default_factory=dict)

    async def dc_for(self, info: _Located) -> int:
        self.lookups += 1
        dc = self.known.get(info.media_id)
        if dc is None:
            try:
                dc = await self.store.dc_of(info.media_id)
            except SharedStateDown:
                # The map is only ever a shortcut: without it the document's DC is a fair
                # guess, corrected by one FILE_MIGRATE at most (and kept for the store).
                dc = None
            if dc is None:
                dc = info.dc
                await self.store.set_dc(info.media_id, dc, learned=False)
            self.known[info.media_id] = dc
        return dc

    async def learn(self, media_id: int, dc: int) -> None:
        """A FILE_MIGRATE_X said where the file really is: remember it for every stream."""
        self.learned += 1
        self.known[media_id] = dc
        await self.store.set_dc(media_id, dc, learned=True)
