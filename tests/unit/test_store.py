"""The store's one interface, the same cases against both backends: the SQLite file in
SESSION_DIR and a real redis-server.  Then what only the shared store has: each bot's own
session and update state, and what it does while Redis is down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.support.processes import free_port
from tgemu.launch import RedisProcess
from tgstream.store import (
    AuthKeyRecord,
    FileInfo,
    IndexEntry,
    SharedStateDown,
    SqliteStore,
    StateStore,
    open_store,
)
from tgstream.store.redis_store import RedisStore

GET_FILE = "upload.getFile"
Opener = Callable[[], StateStore]


def info(message_id: int = 7, reference: bytes = b"\x00ref\xff", size: int = 1000) -> FileInfo:
    return FileInfo(
        message_id, 9001, -5, reference, 4, size, "video/mp4", "clip.mp4", "document", "", 17
    )


@pytest.fixture(params=["sqlite", "redis"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens the backend afresh each call, on the same state (a restart, or a replica)."""
    if request.param == "sqlite":
        return lambda: open_store(None, tmp_path)
    url = request.getfixturevalue("redis_url")
    return lambda: open_store(url, tmp_path)


@pytest.fixture
async def store(opener: Opener) -> AsyncIterator[StateStore]:
    store = opener()
    yield store
    await store.close()


async def reopened(opener: Opener, store: StateStore) -> StateStore:
    await store.close()
    return opener()


async def test_the_backend_is_the_one_state_url_names(tmp_path: Path) -> None:
    sqlite = open_store(None, tmp_path)
    redis = open_store("redis://127.0.0.1:1/3", tmp_path)
    try:
        assert isinstance(sqlite, SqliteStore) and not sqlite.shared and sqlite.sessions is None
        assert isinstance(redis, RedisStore) and redis.shared and redis.sessions is redis
    finally:
        await sqlite.close()
        await redis.close()


async def test_auth_keys_per_bot_and_dc_survive_a_reopen(opener: Opener) -> None:
    store = opener()
    assert await store.auth_key(1, 4) is None
    await store.save_auth_key(AuthKeyRecord(1, 4, b"k" * 256, False))
    await store.save_auth_key(AuthKeyRecord(1, 4, b"k" * 256, True))
    await store.save_auth_key(AuthKeyRecord(2, 4, b"\x00" * 256, False))
    store = await reopened(opener, store)
    try:
        assert await store.auth_key(1, 4) == AuthKeyRecord(1, 4, b"k" * 256, True)
        assert await store.auth_key(2, 4) == AuthKeyRecord(2, 4, b"\x00" * 256, False)
        assert await store.auth_key(1, 5) is None
        await store.drop_auth_key(1, 4)
        assert await store.auth_key(1, 4) is None
        assert await store.auth_key(2, 4) is not None
    finally:
        await store.close()


async def test_the_dc_map_keeps_the_last_dc_and_counts_files(opener: Opener) -> None:
    store = opener()
    assert await store.dc_of(10) is None
    await store.set_dc(10, 2, learned=False)
    await store.set_dc(10, 5, learned=True)
    await store.set_dc(11, 1, learned=False)
    assert store.dc_map_size() == 2
    store = await reopened(opener, store)
    try:
        assert await store.dc_of(10) == 5
        assert await store.dc_of(11) == 1
        assert store.dc_map_size() == 2
    finally:
        await store.close()


async def test_a_file_record_keeps_every_field_and_when_it_was_checked(opener: Opener) -> None:
    store = opener()
    await store.save_file(info(), checked=1234.5)
    await store.save_file(info(8, b"", 0))
    store = await reopened(opener, store)
    try:
        assert await store.file(7) == (info(), 1234.5)
        found = await store.file(8)
        assert found is not None and found[0] == info(8, b"", 0)
        assert time.time() - found[1] < 60
        await store.drop_file(7)
        assert await store.file(7) is None
        assert await store.file(99) is None
    finally:
        await store.close()


async def test_a_missing_id_is_remembered_for_its_ttl(store: StateStore) -> None:
    assert not await store.is_missing(5)
    await store.remember_missing(5, 0.3)
    await store.remember_missing(6, 60)
    assert await store.is_missing(5) and await store.is_missing(6)
    await asyncio.sleep(0.4)
    assert not await store.is_missing(5)
    assert await store.is_missing(6)


async def test_flood_deadlines_are_kept_until_they_pass(opener: Opener) -> None:
    store = opener()
    now = time.time()
    await store.save_flood_deadline(1, GET_FILE, now + 2800)
    await store.save_flood_deadline(2, GET_FILE, now + 0.3)
    await store.save_flood_deadline(3, GET_FILE, now - 5)  # already over
    store = await reopened(opener, store)
    try:
        found = await store.flood_deadlines()
        assert sorted((bot, method) for bot, method, _ in found) == [(1, GET_FILE), (2, GET_FILE)]
        until = await store.flood_deadline(1, GET_FILE)
        assert until == pytest.approx(now + 2800, abs=0.01)
        assert await store.flood_deadline(1, "auth.exportAuthorization") is None
        await asyncio.sleep(0.4)
        assert await store.flood_deadline(2, GET_FILE) is None
        assert [bot for bot, _, _ in await store.flood_deadlines()] == [1]
    finally:
        await store.close()


# --- the shared store only ------------------------------------------------------------------


async def test_a_bots_session_and_update_state_are_shared(redis_url: str, tmp_path: Path) -> None:
    first = RedisStore(redis_url)
    fields = {"dc_id": 2, "api_id": 1, "test_mode": False, "auth_key": b"\x01" * 256}
    await first.save_bot_session(42, {**fields, "user_id": 42, "is_bot": True, "date": 0})
    await first.save_bot_session(42, {"date": 1700000000, "server_address": "127.0.0.1"})
    await first.save_update_states(42, {0: (10, 1, 1700000000, 3), -1001: (5, None, None, None)})
    await first.drop_update_states(42, [-1001])
    second = RedisStore(redis_url)  # another replica
    try:
        session = await second.bot_session(42)
        assert session == {
            **fields,
            "user_id": 42,
            "is_bot": True,
            "date": 1700000000,
            "server_address": "127.0.0.1",
        }
        assert await second.update_states(42) == {0: (10, 1, 1700000000, 3)}
        await second.save_bot_session(42, {"user_id": None})
        assert "user_id" not in await first.bot_session(42)
        assert await second.bot_session(43) == {} and await second.update_states(43) == {}
    finally:
        await first.close()
        await second.close()


async def test_while_redis_is_down_reads_refuse_and_writes_wait_for_it(tmp_path: Path) -> None:
    """Its own redis-server: stopped and started again on the same port and directory."""
    redis = RedisProcess(tmp_path / "data", tmp_path / "redis.log", port=free_port()).start()
    store = RedisStore(redis.url, timeout=0.5, retry_interval=0.1)
    try:
        await store.save_auth_key(AuthKeyRecord(1, 4, b"a" * 256, True))
        redis.stop()
        with pytest.raises(SharedStateDown) as refused:
            await store.auth_key(1, 4)
        assert refused.value.retry_after > 0 and not store.available
        await store.save_file(info())
        await store.save_auth_key(AuthKeyRecord(1, 5, b"b" * 256, False))
        await store.save_auth_key(AuthKeyRecord(1, 5, b"b" * 256, True))  # newest wins
        await store.save_flood_deadline(1, GET_FILE, time.time() + 600)
        await store.save_bot_session(1, {"dc_id": 2})
        assert store.write_failures == 5 and len(store.pending) == 4
        redis.start()
        for _ in range(100):
            if not store.pending:
                break
            await asyncio.sleep(0.05)
        assert not store.pending and store.available
        other = RedisStore(redis.url)
        try:
            assert await other.file(7) is not None
            assert await other.auth_key(1, 4) == AuthKeyRecord(1, 4, b"a" * 256, True)
            assert await other.auth_key(1, 5) == AuthKeyRecord(1, 5, b"b" * 256, True)
            assert await other.flood_deadline(1, GET_FILE) is not None
            assert await other.bot_session(1) == {"dc_id": 2}
        finally:
            await other.close()
    finally:
        await store.close()
        redis.stop()


async def test_a_write_kept_through_an_outage_never_undoes_a_newer_one(tmp_path: Path) -> None:
    """Replica A saves a file record while Redis is down; Redis returns, replica B saves a
    newer record of the same file (a refreshed reference); A's replay comes after B's and
    is refused, while A's kept writes that nobody superseded still land."""
    redis = RedisProcess(tmp_path / "data", tmp_path / "redis.log", port=free_port()).start()
    first = RedisStore(redis.url, timeout=0.5, retry_interval=3600)  # replays when told to
    second = RedisStore(redis.url)
    try:
        redis.stop()
        await first.save_file(info(reference=b"old"))
        await first.save_auth_key(AuthKeyRecord(1, 3, b"k" * 256, True))
        assert len(first.pending) == 2
        redis.start()
        await asyncio.sleep(0.01)  # a later wall-clock millisecond than A's writes
        await second.save_file(info(reference=b"new"))
        assert await first.flush()
        found = await second.file(7)
        assert found is not None and found[0].file_reference == b"new"
        assert await second.auth_key(1, 3) == AuthKeyRecord(1, 3, b"k" * 256, True)
        # And a live write after the replay wins as before.
        await first.save_file(info(reference=b"newest"))
        found = await second.file(7)
        assert found is not None and found[0].file_reference == b"newest"
    finally:
        await first.close()
        await second.close()
        redis.stop()


async def test_revoked_banned_and_copies_survive_a_reopen(opener: Opener) -> None:
    store = opener()
    assert not await store.is_revoked(5) and await store.revoked_ids() == []
    assert not await store.is_banned(77) and await store.banned_users() == []
    assert await store.copy_of(77, 3) is None
    await store.set_revoked(5, True)
    await store.set_revoked(5, True)  # idempotent
    await store.set_revoked(9, True)
    await store.set_banned(77, True)
    await store.save_copy(77, 3, 12)
    await store.save_copy(78, 3, 13)  # message ids are per chat
    store = await reopened(opener, store)
    try:
        assert await store.is_revoked(5) and await store.is_revoked(9)
        assert not await store.is_revoked(6)
        assert await store.revoked_ids() == [5, 9]
        assert await store.is_banned(77) and await store.banned_users() == [77]
        assert (await store.copy_of(77, 3), await store.copy_of(78, 3)) == (12, 13)
        await store.set_revoked(5, False)
        await store.set_banned(77, False)
        await store.set_banned(78, False)  # never banned: nothing to undo
        assert await store.revoked_ids() == [9] and await store.banned_users() == []
    finally:
        await store.close()


async def test_a_revoke_by_another_process_is_seen_at_once(opener: Opener) -> None:
    # `tgstream revoke` (or another replica) writes while the server has its own store open.
    server, cli = opener(), opener()
    try:
        assert not await server.is_revoked(4)
        await cli.set_revoked(4, True)
        assert await server.is_revoked(4)
        await cli.set_revoked(4, False)
        assert not await server.is_revoked(4)
    finally:
        await cli.close()
        await server.close()


async def test_migrate_copies_the_owners_records(redis_url: str, tmp_path: Path) -> None:
    from tgstream.store.migrate import migrate_session_dir

    source = SqliteStore(tmp_path)
    await source.set_revoked(11, True)
    await source.set_banned(4242, True)
    await source.save_copy(4242, 8, 21)
    source.close_now()
    done = await migrate_session_dir(tmp_path, redis_url)
    assert (done.revoked, done.banned, done.copies) == (1, 1, 1)
    assert "1 revoked messages, 1 banned users, 1 file copies" in str(done)
    target = RedisStore(redis_url)
    try:
        assert await target.revoked_ids() == [11]
        assert await target.banned_users() == [4242]
        assert await target.copy_of(4242, 8) == 21
    finally:
        await target.close()


NOV_2026 = 1_793_500_000  # 2026-11-01 (UTC)
DEC_2026 = 1_796_200_000  # 2026-12-02 (UTC)


async def test_the_file_index_lists_by_month_of_posting_and_survives_a_reopen(
    opener: Opener,
) -> None:
    store = opener()
    assert await store.index_months() == [] and await store.index_month("2026-11") == []
    late = IndexEntry(30, 9003, "b.mp4", 3000, "video/mp4", 17, DEC_2026)
    early = IndexEntry(12, 9001, "a.mp4", 1000, "video/mp4", 17, NOV_2026)
    other = IndexEntry(20, 9002, "ünï code.mkv", 2**40, "video/x-matroska", 18, NOV_2026 + 5)
    for entry in (late, other, early, early):  # saving twice is saving once
        await store.save_index_entry(entry)
    store = await reopened(opener, store)
    try:
        assert await store.index_months() == ["2026-11", "2026-12"]
        assert await store.index_month("2026-11") == [early, other]
        assert await store.index_month("2026-12") == [late]
        renamed = IndexEntry(12, 9001, "renamed.mp4", 1000, "video/mp4", 17, NOV_2026)
        await store.save_index_entry(renamed)
        await store.drop_index_entry(20)
        await store.drop_index_entry(30)
        await store.drop_index_entry(999)  # never indexed: nothing to drop
        assert await store.index_months() == ["2026-11"]
        assert await store.index_month("2026-11") == [renamed]
    finally:
        await store.close()


async def test_migrate_copies_the_file_index(redis_url: str, tmp_path: Path) -> None:
    from tgstream.store.migrate import migrate_session_dir

    source = SqliteStore(tmp_path)
    entry = IndexEntry(5, 77, "x.bin", 10, "application/octet-stream", 1, NOV_2026)
    await source.save_index_entry(entry)
    source.close_now()
    done = await migrate_session_dir(tmp_path, redis_url)
    assert done.indexed == 1 and "1 indexed files" in str(done)
    target = RedisStore(redis_url)
    try:
        assert await target.index_month("2026-11") == [entry]
    finally:
        await target.close()


async def test_a_media_probe_is_kept_by_media_id_and_survives_a_reopen(opener: Opener) -> None:
    store = opener()
    assert await store.media_probe(9001) is None
    await store.save_media_probe(9001, '{"version": 1, "unreadable": "x"}')
    await store.save_media_probe(9001, '{"version": 1, "tracks": []}')
    await store.save_media_probe(9002, "ünïcode ✓")
    store = await reopened(opener, store)
    try:
        assert await store.media_probe(9001) == '{"version": 1, "tracks": []}'
        assert await store.media_probe(9002) == "ünïcode ✓"
        assert await store.media_probe(9003) is None
    finally:
        await store.close()


async def test_migrate_copies_the_media_probes(redis_url: str, tmp_path: Path) -> None:
    from tgstream.store.migrate import migrate_session_dir

    source = SqliteStore(tmp_path)
    await source.save_media_probe(77, '{"version": 1, "unreadable": "no"}')
    await source.save_media_probe(78, "{}")
    source.close_now()
    done = await migrate_session_dir(tmp_path, redis_url)
    assert done.media_probes == 2 and "2 media probes" in str(done)
    target = RedisStore(redis_url)
    try:
        assert await target.media_probe(77) == '{"version": 1, "unreadable": "no"}'
        assert await target.media_probe(78) == "{}"
    finally:
        await target.close()


async def test_what_each_dc_served_adds_up_across_restarts_and_replicas(opener: Opener) -> None:
    store = opener()
    assert await store.dc_served() == {}
    await store.add_dc_served({4: 3, 5: 1})
    await store.add_dc_served({4: 2, 1: 0})  # nothing served there: no entry
    other = opener()  # a replica on Redis; the same file again on SQLite
    try:
        await other.add_dc_served({5: 4})
    finally:
        await other.close()
    store = await reopened(opener, store)
    try:
        assert await store.dc_served() == {4: 5, 5: 5}
    finally:
        await store.close()


async def test_served_counts_added_while_redis_is_down_all_land(tmp_path: Path) -> None:
    """Counts add up: each addition kept through an outage is replayed, none replaces
    another (unlike writes of a value, where the newest stands for all)."""
    redis = RedisProcess(tmp_path / "data", tmp_path / "redis.log", port=free_port()).start()
    store = RedisStore(redis.url, timeout=0.5, retry_interval=3600)  # replays when told to
    try:
        await store.add_dc_served({4: 1})
        redis.stop()
        await store.add_dc_served({4: 2})
        await store.add_dc_served({4: 3, 5: 1})
        assert len(store.pending) == 3
        redis.start()
        assert await store.flush()
        assert await store.dc_served() == {4: 6, 5: 1}
    finally:
        await store.close()
        redis.stop()


async def test_migrate_copies_what_each_dc_served(redis_url: str, tmp_path: Path) -> None:
    from tgstream.store.migrate import migrate_session_dir

    source = SqliteStore(tmp_path)
    await source.add_dc_served({4: 12, 2: 3})
    source.close_now()
    done = await migrate_session_dir(tmp_path, redis_url)
    assert done.dc_served == 2 and "2 DCs' served counts" in str(done)
    target = RedisStore(redis_url)
    try:
        assert await target.dc_served() == {2: 3, 4: 12}
    finally:
        await target.close()
