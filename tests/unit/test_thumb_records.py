"""A file's thumbnail in its record: which of Telegram's sizes is kept (metadata.py), that
both stores keep it, and that records written before thumbnails were kept are fetched
again (rather than taken to mean "no thumbnail") on either store, and by a migration."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pyrogram import raw

from tgstream.store import FileInfo, SqliteStore, open_store
from tgstream.store.redis_store import PREFIX, RedisStore
from tgstream.telegram.metadata import file_info_from_message


class _Message:
    def __init__(self, media: object) -> None:
        self.media = media


def _info_with(thumbs: list[Any] | None) -> FileInfo:
    document = raw.types.Document(
        id=1,
        access_hash=2,
        file_reference=b"r",
        date=1_700_000_000,
        mime_type="video/mp4",
        size=10,
        dc_id=4,
        attributes=[],
        thumbs=thumbs,
    )
    return file_info_from_message(7, _Message(raw.types.MessageMediaDocument(document=document)))


def _size(kind: str, size: int) -> raw.types.PhotoSize:
    return raw.types.PhotoSize(type=kind, w=320, h=180, size=size)


@pytest.mark.parametrize(
    ("thumbs", "kept"),
    [
        (None, ("", 0)),
        ([], ("", 0)),
        ([_size("m", 9000)], ("m", 9000)),
        # What Telegram sends for a video: a stripped preview (inline bytes) and the "m" size.
        (
            [raw.types.PhotoStrippedSize(type="i", bytes=b"\x01\x28\x1e"), _size("m", 700)],
            ("m", 700),
        ),
        ([_size("s", 900), _size("m", 4000)], ("m", 4000)),
        ([_size("m", 4000), _size("s", 900)], ("m", 4000)),
        # The same length: the larger size type wins.
        ([_size("m", 100), _size("s", 100)], ("m", 100)),
        # A progressive JPEG: its whole length is the last of its scans.
        (
            [raw.types.PhotoSizeProgressive(type="x", w=800, h=450, sizes=[500, 2000, 7000])],
            ("x", 7000),
        ),
        # None of these is a file of its own to fetch.
        ([raw.types.PhotoCachedSize(type="s", w=90, h=50, bytes=b"\xff\xd8")], ("", 0)),
        ([raw.types.PhotoPathSize(type="j", bytes=b"\x01")], ("", 0)),
        ([raw.types.PhotoSizeEmpty(type="m")], ("", 0)),
        ([_size("m", 0)], ("", 0)),
        ([_size("", 50)], ("", 0)),
        ([_size("mm", 50)], ("", 0)),
    ],
)
def test_the_best_thumbnail_is_kept(thumbs: list[Any] | None, kept: tuple[str, int]) -> None:
    info = _info_with(thumbs)
    assert (info.thumb_type, info.thumb_length) == kept
    assert info.has_thumb is bool(kept[1])
    assert info.thumb_size == ""  # the document itself is still fetched as the document


def _record(message_id: int = 7, thumb: tuple[str, int] = ("m", 5000)) -> FileInfo:
    return FileInfo(
        message_id, 9001, -5, b"ref", 4, 1000, "video/mp4", "clip.mp4", "document", "", 17,
        *thumb,
    )  # fmt: skip


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_both_stores_keep_the_thumbnail(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = None if backend == "sqlite" else request.getfixturevalue("redis_url")
    store = open_store(url, tmp_path)
    await store.save_file(_record(), checked=1234.5)
    await store.save_file(_record(8, ("", 0)), checked=99.0)
    await store.close()
    store = open_store(url, tmp_path)
    try:
        assert await store.file(7) == (_record(), 1234.5)
        assert await store.file(8) == (_record(8, ("", 0)), 99.0)
    finally:
        await store.close()


# The files table as states made before thumbnails were kept have it.
_OLD_FILES = """
CREATE TABLE files (
    message_id INTEGER PRIMARY KEY, media_id INTEGER NOT NULL, access_hash INTEGER NOT NULL,
    file_reference BLOB NOT NULL, dc INTEGER NOT NULL, size INTEGER NOT NULL,
    mime_type TEXT NOT NULL, file_name TEXT NOT NULL, kind TEXT NOT NULL,
    thumb_size TEXT NOT NULL, date INTEGER NOT NULL, fetched REAL NOT NULL
);
INSERT INTO files VALUES (7, 9001, -5, X'726566', 4, 1000, 'video/mp4', 'clip.mp4',
    'document', '', 17, 1234.5);
"""


def _old_sqlite_state(session_dir: Path) -> None:
    session_dir.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(session_dir / "tgstream.sqlite3")
    db.executescript(_OLD_FILES)
    db.close()


async def test_an_old_sqlite_record_is_fetched_again(tmp_path: Path) -> None:
    _old_sqlite_state(tmp_path)
    store = SqliteStore(tmp_path)
    try:
        found = await store.file(7)
        # Everything it knew, no thumbnail yet, and "never confirmed": the resolver asks
        # Telegram again on its next use, and serves this meanwhile if Telegram cannot answer.
        assert found == (_record(thumb=("", 0)), 0.0)
        await store.save_file(_record(), checked=2000.0)
        assert await store.file(7) == (_record(), 2000.0)
    finally:
        await store.close()


async def test_an_old_redis_record_is_fetched_again(redis_url: str, tmp_path: Path) -> None:
    old = [7, 9001, -5, b"ref".hex(), 4, 1000, "video/mp4", "clip.mp4", "document", "", 17, 1234.5]
    store = RedisStore(redis_url)
    try:
        await store.client.set(f"{PREFIX}file:7", json.dumps(old))
        assert await store.file(7) == (_record(thumb=("", 0)), 0.0)
    finally:
        await store.close()


async def test_a_migrated_old_record_stays_unconfirmed(redis_url: str, tmp_path: Path) -> None:
    from tgstream.store.migrate import migrate_session_dir

    _old_sqlite_state(tmp_path)
    SqliteStore(tmp_path).close_now()
    done = await migrate_session_dir(tmp_path, redis_url)
    assert done.files == 1
    target = RedisStore(redis_url)
    try:
        assert await target.file(7) == (_record(thumb=("", 0)), 0.0)
    finally:
        await target.close()


def test_a_record_without_a_thumbnail_has_none() -> None:
    assert not dataclasses.replace(_record(), thumb_length=0).has_thumb
    assert not dataclasses.replace(_record(), thumb_type="").has_thumb
    assert _record().has_thumb
