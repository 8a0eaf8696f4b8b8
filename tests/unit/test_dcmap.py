"""The DC map: the document's DC first, FILE_MIGRATE corrections remembered, across restarts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tgstream.store import SqliteStore
from tgstream.telegram.dcmap import DcMap


@dataclass(frozen=True)
class Doc:
    media_id: int
    dc: int


@dataclass
class MemoryStore:
    rows: dict[int, tuple[int, bool]] = field(default_factory=dict)
    reads: int = 0

    async def dc_of(self, media_id: int) -> int | None:
        self.reads += 1
        row = self.rows.get(media_id)
        return row[0] if row else None

    async def set_dc(self, media_id: int, dc: int, learned: bool) -> None:
        self.rows[media_id] = (dc, learned)


async def test_the_documents_dc_is_used_and_kept_as_not_learned() -> None:
    store = MemoryStore()
    dcmap = DcMap(store)
    assert await dcmap.dc_for(Doc(1, 4)) == 4
    assert store.rows == {1: (4, False)}
    assert (dcmap.lookups, dcmap.learned) == (1, 0)


async def test_memory_answers_every_lookup_after_the_first() -> None:
    store = MemoryStore()
    dcmap = DcMap(store)
    for _ in range(100):
        assert await dcmap.dc_for(Doc(1, 4)) == 4
    assert store.reads == 1 and dcmap.lookups == 100


async def test_a_migration_is_learned_once_for_every_stream() -> None:
    store = MemoryStore()
    dcmap = DcMap(store)
    assert await dcmap.dc_for(Doc(7, 2)) == 2
    await dcmap.learn(7, 5)
    assert await dcmap.dc_for(Doc(7, 2)) == 5
    assert store.rows[7] == (5, True)
    assert dcmap.learned == 1
    assert await dcmap.dc_for(Doc(8, 2)) == 2  # other files keep their own DC


async def test_what_was_learned_survives_a_restart(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    await DcMap(store).learn(9, 3)
    await store.close()
    reopened = SqliteStore(tmp_path)
    try:
        dcmap = DcMap(reopened)
        assert await dcmap.dc_for(Doc(9, 1)) == 3  # not the document's DC 1: no migration again
        assert dcmap.learned == 0  # nothing new was learned after the restart
        assert reopened.dc_map_size() == 1
    finally:
        await reopened.close()


async def test_with_the_store_down_the_documents_dc_is_used_and_kept_for_later() -> None:
    from tgstream.store import SharedStateDown

    class DownStore(MemoryStore):
        async def dc_of(self, media_id: int) -> int | None:
            raise SharedStateDown("redis://x", "refused")

    store = DownStore()
    dcmap = DcMap(store)
    assert await dcmap.dc_for(Doc(3, 4)) == 4
    assert store.rows == {3: (4, False)}  # handed to the store, which keeps it until it can
