"""Document thumbnails in the emulator, as a stock Kurigram client sees them: a document sent
with a thumbnail lists it in `thumbs` (Kurigram's message.document.thumbs / video.thumbs),
getFile of the document's location with that size type answers the thumbnail's bytes, and
the control API refuses a thumbnail Telegram would refuse."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import httpx
import pytest
from pyrogram import errors, raw
from pyrogram.file_id import FileId

from tests.support.jpegs import make_jpeg
from tests.support.kurigram import document_location, make_client
from tests.support.processes import EmulatorProcess
from tgemu.media import check_thumb, jpeg_dimensions


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_kurigram_sees_the_thumbnail_and_downloads_it_byte_exact(
    emu: EmulatorProcess, workdir: Path
) -> None:
    channel = emu.config["bin_channel"]
    data = os.urandom(300_000)
    thumb = make_jpeg(320, 180, seed=1)
    posted = emu.post_to_channel(data, dc=4, name="report.bin", thumb=thumb)
    assert posted["thumb"] == {"type": "m", "w": 320, "h": 180, "size": len(thumb)}
    video_thumb = make_jpeg(96, 54, seed=2)
    video = emu.post_to_channel(
        os.urandom(5000), dc=4, name="clip.mp4", kind="video", mime_type="video/mp4",
        thumb=video_thumb,
    )  # fmt: skip
    assert video["thumb"] == {"type": "s", "w": 96, "h": 54, "size": len(video_thumb)}

    async with make_client(emu.config, "bot", workdir) as client:
        message = await client.get_messages(channel, posted["message_id"])
        thumbs = message.document.thumbs
        assert thumbs is not None and len(thumbs) == 1
        assert (thumbs[0].width, thumbs[0].height, thumbs[0].file_size) == (320, 180, len(thumb))
        emu.reset()
        got = await client.download_media(thumbs[0].file_id, in_memory=True)
        assert sha(bytes(got.getbuffer())) == sha(thumb)
        dc4 = emu.dc_stats(4)
        assert dc4["getfile_thumb_requests"] == dc4["getfile_requests"] >= 1
        assert dc4["getfile_bytes"] == len(thumb)

        clip = await client.get_messages(channel, video["message_id"])
        assert clip.video is not None and clip.video.thumbs is not None
        got = await client.download_media(clip.video.thumbs[0].file_id, in_memory=True)
        assert sha(bytes(got.getbuffer())) == sha(video_thumb)

        # The document itself is still the document, and a size it lacks is refused.
        emu.reset()
        whole = await client.download_media(message, in_memory=True)
        assert sha(bytes(whole.getbuffer())) == sha(data)
        assert emu.dc_stats(4)["getfile_thumb_requests"] == 0
        media = await client.get_session(4, is_media=True)
        location = document_location(message.document.file_id)
        for size in ("x", "i", "s"):
            location.thumb_size = size
            with pytest.raises(errors.LocationInvalid):
                await media.invoke(
                    raw.functions.upload.GetFile(location=location, offset=0, limit=1 << 20)
                )


async def test_a_document_without_a_thumbnail_lists_none(
    emu: EmulatorProcess, workdir: Path
) -> None:
    posted = emu.post_to_channel(os.urandom(2000), dc=2, name="bare.bin")
    assert posted["thumb"] is None
    async with make_client(emu.config, "bot", workdir) as client:
        message = await client.get_messages(emu.config["bin_channel"], posted["message_id"])
        assert not message.document.thumbs
        media_id = FileId.decode(message.document.file_id).media_id
        location = document_location(message.document.file_id)
        location.thumb_size = "m"
        with pytest.raises(errors.LocationInvalid):
            await client.invoke(
                raw.functions.upload.GetFile(location=location, offset=0, limit=4096)
            )
        assert media_id == FileId.decode(posted["file_id"]).media_id


@pytest.mark.parametrize(
    ("thumb", "error"),
    [
        (b"GIF89a", "the thumbnail is not a JPEG"),
        (b"", "the thumbnail is empty"),
        (b"\xff\xd8\xff\xd9", "the thumbnail is not a JPEG"),
        (make_jpeg(322, 100), "the thumbnail must be at most 320x320 pixels, not 322x100"),
        (b"\xff\xd8" + bytes(200_000), "the thumbnail must be smaller than 200000 bytes"),
    ],
)
def test_the_control_api_refuses_what_telegram_would(
    emu: EmulatorProcess, thumb: bytes, error: str
) -> None:
    for route in (
        "/files",
        f"/channels/{emu.config['bin_channel']}/documents",
        "/users/7/documents",
    ):
        response = httpx.post(
            emu.url + route,
            files={"file": ("a.bin", b"data"), "thumb": ("t.jpg", thumb, "image/jpeg")},
            data={"dc_id": "2"},
        )
        assert response.status_code == 400, response.text
        assert response.json() == {"error": error}
    photo = httpx.post(
        emu.url + "/files",
        files={"file": ("p.jpg", b"data"), "thumb": ("t.jpg", make_jpeg(), "image/jpeg")},
        data={"dc_id": "2", "kind": "photo"},
    )
    assert photo.status_code == 400
    assert photo.json() == {"error": "a photo has no thumbnail of its own to send"}


def test_jpeg_dimensions_and_size_types() -> None:
    assert jpeg_dimensions(make_jpeg(320, 180)) == (320, 180)
    assert jpeg_dimensions(make_jpeg(32, 320)) == (32, 320)
    assert check_thumb(make_jpeg(100, 60)) == ("s", 100, 60)
    assert check_thumb(make_jpeg(102, 60)) == ("m", 102, 60)
    for broken in (b"", b"\xff\xd8", b"\xff\xd8\xff\xc0\x00\x11\x08", b"\xff\xd8\xff\xda\x00\x02"):
        with pytest.raises(ValueError, match="not a JPEG"):
            jpeg_dimensions(broken)


def test_thumbnails_survive_a_restart_and_old_state_dirs_gain_them(tmp_path: Path) -> None:
    from tgemu.media import ingest
    from tgemu.store import Store

    thumb = make_jpeg(320, 240, seed=4)
    store = Store(tmp_path / "state")
    stored = ingest(store, [b"video bytes"], 4, "a.mp4", "video/mp4", "video", thumb=thumb)
    bare = ingest(store, [b"other bytes"], 4, "b.bin", None, "document")
    store.close()
    reopened = Store(tmp_path / "state")
    kept = reopened.files[stored.id].thumb
    assert kept is not None and (kept.type, kept.w, kept.h, kept.size) == (
        "m",
        320,
        240,
        len(thumb),
    )
    assert Path(kept.path).read_bytes() == thumb
    assert reopened.files[bare.id].thumb is None
    reopened.delete_file(reopened.files[stored.id])
    assert not Path(kept.path).exists()  # lost with its document
    reopened.close()

    # A state dir from before thumbnails: the columns are added, its files have none.
    old = tmp_path / "old"
    old.mkdir()
    db = sqlite3.connect(old / "emulator.sqlite3")
    db.executescript(
        "CREATE TABLE files (id INTEGER PRIMARY KEY, dc INTEGER NOT NULL, "
        "access_hash INTEGER NOT NULL, file_reference BLOB NOT NULL, size INTEGER NOT NULL, "
        "mime_type TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL, date INTEGER NOT NULL, "
        "path TEXT NOT NULL, width INTEGER, height INTEGER, duration REAL, "
        "gone INTEGER NOT NULL DEFAULT 0);"
        "INSERT INTO files VALUES (5, 2, 7, X'02', 10, 'video/mp4', 'old.mp4', 'video', 1, "
        "'/nowhere', 1280, 720, 60.0, 0);"
    )
    db.close()
    upgraded = Store(old)
    assert upgraded.files[5].name == "old.mp4" and upgraded.files[5].thumb is None
    upgraded.close()
