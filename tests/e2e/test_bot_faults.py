"""The bot under trouble, over real MTProto: a FLOOD_WAIT on the copy into the bin channel or
on the reply, a document that declares more than 2 GiB, messages that carry no file, and users
outside the allowlist.  Each gets the right reply, and the bin channel ends up holding every
accepted file exactly once and nothing else."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import httpx
from pyrogram.file_id import FileId

from tests.e2e.conftest import new_server
from tests.e2e.test_bot_flow import replies_to
from tests.support.processes import EmulatorProcess, ServerProcess

MiB = 1 << 20
GiB = 1 << 30
# How the bot copies a user's file into the bin channel: Kurigram's Message.copy re-sends the
# media by reference (messages.sendMedia), and it answers with messages.sendMessage.
COPY_METHOD = "messages.sendMedia"
REPLY_METHOD = "messages.sendMessage"
REFUSED = "not on its list of allowed users"
UNSUPPORTED = "Please send a file"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def send_document(
    emu: EmulatorProcess, user_id: int, data: bytes, name: str, dc: int = 4, **form: str
) -> int:
    """A user sends a file to the bot; returns the emulator's media id of that file."""
    sent = emu.post_file(f"/users/{user_id}/documents", data, dc, name, **form)
    media_id: int = FileId.decode(sent["file_id"]).media_id
    return media_id


def send_text(emu: EmulatorProcess, user_id: int, text: str) -> None:
    httpx.post(f"{emu.url}/users/{user_id}/messages", json={"text": text}).raise_for_status()


def channel_posts(emu: EmulatorProcess) -> list[dict[str, Any]]:
    response = httpx.get(f"{emu.url}/channels/{emu.config['bin_channel']}/messages")
    response.raise_for_status()
    posts: list[dict[str, Any]] = response.json()
    return posts


def copies_of(emu: EmulatorProcess, media_id: int) -> list[dict[str, Any]]:
    return [p for p in channel_posts(emu) if p["file"] and p["file"]["id"] == media_id]


def method_calls(emu: EmulatorProcess, method: str) -> int:
    return int(emu.stats()["methods"].get(method, 0))


def flood_waits(emu: EmulatorProcess) -> int:
    return sum(int(dc["flood_waits"]) for dc in emu.stats()["dcs"].values())


def links_of(reply: dict[str, Any]) -> tuple[str, str]:
    download = next(u for u in reply["urls"] if "/dl/" in u)
    watch = next(u for u in reply["urls"] if "/watch/" in u)
    return download, watch


def settled_replies(emu: EmulatorProcess, user_id: int, count: int) -> list[Any]:
    """The replies once `count` arrived, checked again after a pause so a late duplicate shows."""
    replies_to(emu, user_id, count)
    time.sleep(1.0)
    replies: list[Any] = httpx.get(f"{emu.url}/users/{user_id}/messages").json()
    return replies


def test_flood_wait_on_copy_and_on_reply_is_waited_out_once(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    server = new_server(server_factory, emulator, tmp_path, "bot-flood")

    # 1. The copy into the bin channel is told to wait.
    emulator.faults(flood_waits=[{"method": COPY_METHOD, "seconds": 2, "count": 1}])
    first = os.urandom(3 * MiB + 17)
    first_id = send_document(emulator, 8101, first, "flooded copy.bin")
    (reply,) = settled_replies(emulator, 8101, 1)
    assert "flooded copy.bin" in reply["text"] and "3.0 MiB" in reply["text"]
    download, watch = links_of(reply)
    assert download.startswith(server.url) and watch.startswith(server.url)
    assert emulator.faults()["flood_waits"] == [], "the flood rule was never hit"
    # One refused call and one that went through: the retry did not post a second copy.
    assert method_calls(emulator, COPY_METHOD) == 2
    (copy,) = copies_of(emulator, first_id)
    assert f"/dl/{copy['id']}/" in download
    body = httpx.get(download, timeout=60)
    assert body.status_code == 200 and sha(body.content) == sha(first)
    page = httpx.get(watch, timeout=30)
    assert page.status_code == 200 and f"/dl/{copy['id']}/" in page.text

    # 2. The reply itself is told to wait: still exactly one reply, and one copy.
    emulator.reset()
    emulator.faults(flood_waits=[{"method": REPLY_METHOD, "seconds": 2, "count": 1}])
    second = os.urandom(MiB + 5)
    second_id = send_document(emulator, 8102, second, "flooded reply.bin", dc=2)
    (reply,) = settled_replies(emulator, 8102, 1)
    assert "flooded reply.bin" in reply["text"]
    assert emulator.faults()["flood_waits"] == []
    assert method_calls(emulator, REPLY_METHOD) == 2
    assert method_calls(emulator, COPY_METHOD) == 1
    assert flood_waits(emulator) == 1
    (copy,) = copies_of(emulator, second_id)
    download, _ = links_of(reply)
    assert f"/dl/{copy['id']}/" in download
    body = httpx.get(download, timeout=60)
    assert body.status_code == 200 and sha(body.content) == sha(second)


def test_document_declaring_more_than_2_gib_gets_links_with_its_full_length(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    new_server(server_factory, emulator, tmp_path, "bot-big")
    declared = 2 * GiB + GiB // 2  # 2.5 GiB: past the signed 32-bit range, under the 4000 MiB cap
    stored = os.urandom(2 * MiB)
    media_id = send_document(
        emulator,
        8111,
        stored,
        "big movie.mkv",
        kind="video",
        mime_type="video/x-matroska",
        declared_size=str(declared),
    )
    (reply,) = settled_replies(emulator, 8111, 1)
    assert "big movie.mkv" in reply["text"] and "2.5 GiB" in reply["text"]
    download, watch = links_of(reply)
    (copy,) = copies_of(emulator, media_id)
    assert copy["file"]["size"] == declared
    assert f"/dl/{copy['id']}/" in download

    head = httpx.head(download, timeout=30)
    assert head.status_code == 200
    assert int(head.headers["content-length"]) == declared
    assert head.headers["accept-ranges"] == "bytes"
    assert head.headers["content-type"].startswith("video/x-matroska")
    # The bytes the emulator holds (the head of the file) stream as usual.
    first = httpx.get(download, headers={"Range": f"bytes=0-{MiB - 1}"}, timeout=60)
    assert first.status_code == 206
    assert first.headers["content-range"] == f"bytes 0-{MiB - 1}/{declared}"
    assert sha(first.content) == sha(stored[:MiB])
    # A range that only a >2 GiB file has is accepted and described, not refused as 416.
    tail = httpx.head(download, headers={"Range": f"bytes={declared - 100}-"}, timeout=30)
    assert tail.status_code == 206
    assert tail.headers["content-range"] == f"bytes {declared - 100}-{declared - 1}/{declared}"
    assert httpx.get(watch, timeout=30).status_code == 200
    # Past Telegram's 4000 MiB cap the emulator refuses, as Telegram refuses such an upload.
    too_big = httpx.post(
        f"{emulator.url}/users/8111/documents",
        files={"file": ("huge.bin", b"x")},
        data={"dc_id": "4", "declared_size": str((4000 << 20) + 1)},
    )
    assert too_big.status_code == 400 and "declared_size" in too_big.json()["error"]


def test_messages_without_a_file_get_help_and_copy_nothing(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    new_server(server_factory, emulator, tmp_path, "bot-unsupported")
    posts_before = len(channel_posts(emulator))
    send_text(emulator, 8121, "hello, can you host my film?")
    send_text(emulator, 8121, "/upload")
    send_text(emulator, 8121, "https://example.com/film.mkv")
    replies = settled_replies(emulator, 8121, 3)
    assert len(replies) == 3
    for reply in replies:
        assert UNSUPPORTED in reply["text"] and reply["urls"] == []
    assert method_calls(emulator, COPY_METHOD) == 0
    assert method_calls(emulator, "messages.forwardMessages") == 0
    assert len(channel_posts(emulator)) == posts_before


def test_users_outside_the_allowlist_are_refused_and_nothing_is_copied(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    new_server(server_factory, emulator, tmp_path, "bot-private", ALLOWED_USERS="8131,8133")
    posts_before = len(channel_posts(emulator))
    stranger_file = os.urandom(MiB)
    stranger_id = send_document(emulator, 8132, stranger_file, "not yours.bin")
    send_text(emulator, 8132, "/start")
    send_text(emulator, 8132, "let me in")
    refusals = settled_replies(emulator, 8132, 3)
    assert len(refusals) == 3
    for refusal in refusals:
        assert REFUSED in refusal["text"] and refusal["urls"] == []
    assert copies_of(emulator, stranger_id) == []
    assert method_calls(emulator, COPY_METHOD) == 0
    assert len(channel_posts(emulator)) == posts_before

    # The allowlist is not a wall for everyone: a listed user gets links to exact bytes.
    mine = os.urandom(MiB + 1)
    mine_id = send_document(emulator, 8133, mine, "mine.bin")
    (reply,) = settled_replies(emulator, 8133, 1)
    download, _ = links_of(reply)
    assert len(copies_of(emulator, mine_id)) == 1
    assert len(channel_posts(emulator)) == posts_before + 1
    body = httpx.get(download, timeout=60)
    assert body.status_code == 200 and sha(body.content) == sha(mine)
