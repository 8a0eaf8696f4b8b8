"""The whole path a user takes, over real MTProto: send a file to the bot, get two links,
download byte-exact, open the watch page; channel posts get buttons; strangers are refused.
Secrets over a whole session are checked in test_secrets.py."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import new_server
from tests.support.processes import EmulatorProcess, ServerProcess

MiB = 1 << 20


def replies_to(emu: EmulatorProcess, user_id: int, count: int, timeout: float = 30) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies: list[Any] = httpx.get(f"{emu.url}/users/{user_id}/messages").json()
        if len(replies) >= count:
            return replies
        time.sleep(0.1)
    raise AssertionError(f"no reply to user {user_id} within {timeout} s")


def test_video_to_bot_gives_working_download_and_watch_links(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    server = new_server(server_factory, emulator, tmp_path, "bot")
    data = os.urandom(6 * MiB + 99)
    httpx.post(
        f"{emulator.url}/users/31337/documents",
        files={"file": ("holiday clip.mp4", data)},
        data={"dc_id": "4", "kind": "video", "mime_type": "video/mp4"},
    ).raise_for_status()
    (reply,) = replies_to(emulator, 31337, 1)
    download = next(u for u in reply["urls"] if "/dl/" in u)
    watch = next(u for u in reply["urls"] if "/watch/" in u)
    buttons = [b["url"] for row in reply["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == [download, watch]
    assert "holiday clip.mp4" in reply["text"] and "6.0 MiB" in reply["text"]
    assert download.startswith(server.url) and watch.startswith(server.url)

    body = httpx.get(download, timeout=60)
    assert body.status_code == 200
    assert hashlib.sha256(body.content).digest() == hashlib.sha256(data).digest()

    page = httpx.get(watch, timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<video" in page.text and "holiday clip.mp4" in page.text
    assert "/static/watch.js" in page.text
    assert httpx.get(f"{server.url}/static/watch.css", timeout=30).status_code == 200


def test_start_help_channel_post_and_refused_user(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    new_server(server_factory, emulator, tmp_path, "private", ALLOWED_USERS="4001")
    httpx.post(f"{emulator.url}/users/4001/messages", json={"text": "/start"}).raise_for_status()
    (hello,) = replies_to(emulator, 4001, 1)
    assert "download link" in hello["text"]

    httpx.post(
        f"{emulator.url}/users/4002/documents",
        files={"file": ("x.bin", b"secret stuff")},
        data={"dc_id": "2"},
    ).raise_for_status()
    (refusal,) = replies_to(emulator, 4002, 1)
    assert "not on its list of allowed users" in refusal["text"] and refusal["urls"] == []

    posted = emulator.post_to_channel(os.urandom(MiB), dc=2, name="report.pdf")
    channel = emulator.config["bin_channel"]
    deadline = time.monotonic() + 30
    message: dict[str, Any] = {}
    while time.monotonic() < deadline:
        message = httpx.get(
            f"{emulator.url}/channels/{channel}/messages/{posted['message_id']}"
        ).json()
        if message["reply_markup"]:
            break
        time.sleep(0.1)
    urls = message["urls"]
    assert len(urls) == 2 and any("/dl/" in u for u in urls) and any("/watch/" in u for u in urls)
