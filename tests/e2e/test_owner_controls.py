"""The owner's controls over real MTProto and HTTP: links that end (410 after, at no
Telegram call), revoke and unrevoke from the CLI and from the bot (owners only), /link with
a lifetime, bans (refused, nothing copied), /users and /stats, and the refusals counted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import new_server
from tests.support.processes import EmulatorProcess, ServerProcess
from tgemu.control_client import UserMessage

# What serving a link costs at Telegram: resolving its message, fetching its parts.
LINK_CALLS = ("channels.getMessages", "upload.getFile")


def link_calls(emu: EmulatorProcess) -> dict[str, int]:
    methods = emu.stats()["methods"]
    return {name: int(methods.get(name, 0)) for name in LINK_CALLS}


def statuses(download: str, watch: str) -> list[int]:
    """GET and HEAD of the download link, GET of the watch page."""
    return [
        httpx.get(download, timeout=60).status_code,
        httpx.head(download, timeout=60).status_code,
        httpx.get(watch, timeout=60).status_code,
    ]


def refusals(server: ServerProcess, reason: str) -> float:
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith(f'tgstream_link_refusals_total{{reason="{reason}"}}'):
            return float(line.split()[-1])
    return 0.0


def cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tgstream", *args],
        env=server.env(),
        cwd=server.session_dir.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def until(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.1)


def messages(emu: EmulatorProcess, user_id: int, count: int) -> list[UserMessage]:
    """The first `count` messages the bot sent the user, once there are that many."""
    found: list[UserMessage] = []

    def enough() -> bool:
        nonlocal found
        try:
            found = emu.control.messages_to(user_id)
        except httpx.HTTPStatusError:
            return False
        return len(found) >= count

    until(enough)
    return found[:count]


def latest(emu: EmulatorProcess, user_id: int, count: int) -> UserMessage:
    return messages(emu, user_id, count)[-1]


def split(message: UserMessage | dict[str, Any]) -> tuple[str, str]:
    urls = list(dict.fromkeys(message["urls"]))
    return next(u for u in urls if "/dl/" in u), next(u for u in urls if "/watch/" in u)


def test_cli_links_that_end_and_revoke(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data = os.urandom(300_000)
    message_id = emulator.post_to_channel(data, dc=4, name="talk slides.pdf")["message_id"]
    # No part cache: a link served after its end would have to fetch parts again.
    server = new_server(server_factory, emulator, tmp_path, "owner-cli", CACHE_SIZE_MB="0")

    made = cli(server, "link", str(message_id), "--expires-in", "12")
    assert made.returncode == 0, made.stderr
    download, watch = made.stdout.split()
    assert "/talk%20slides.pdf?exp=" in download  # the real name, not file-N
    ends = int(download.split("exp=")[1].split("&")[0])
    assert statuses(download, watch) == [200, 200, 200]
    assert httpx.get(download).content == data

    endless = cli(server, "link", str(message_id))
    assert endless.returncode == 0, endless.stderr
    old_download, old_watch = endless.stdout.split()
    assert "exp=" not in old_download

    until(lambda: time.time() >= ends + 0.2, timeout=60)
    before = link_calls(emulator)
    expired = refusals(server, "expired")
    assert statuses(download, watch) == [410, 410, 410]
    assert link_calls(emulator) == before  # refused before any Telegram call
    assert refusals(server, "expired") == expired + 3
    assert httpx.get(download).json() == {"error": "this link has expired"}
    # A later end written into the link is a forgery.
    tampered = download.replace(f"exp={ends}", f"exp={ends + 3600}")
    forged = refusals(server, "forged")
    assert httpx.get(tampered).status_code == 403
    assert refusals(server, "forged") == forged + 1
    assert statuses(old_download, old_watch) == [200, 200, 200]  # links without an end live on

    revoked = cli(server, "revoke", str(message_id))
    assert revoked.returncode == 0, revoked.stderr
    until(lambda: httpx.get(old_download).status_code == 410, timeout=10)
    before = link_calls(emulator)
    assert statuses(old_download, old_watch) == [410, 410, 410]
    assert link_calls(emulator) == before
    assert refusals(server, "revoked") >= 4

    restored = cli(server, "unrevoke", str(message_id))
    assert restored.returncode == 0, restored.stderr
    until(lambda: httpx.get(old_download).status_code == 200, timeout=10)
    assert httpx.get(old_download).content == data

    # Nothing to resolve it with: one line, a non-zero exit.
    server.stop()
    unknown = cli(server, "link", str(message_id + 1000))
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1
    assert "not reachable" in unknown.stderr


def test_bot_owner_commands(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    owner, user, pest = 5001, 5002, 5003
    server = new_server(
        server_factory, emulator, tmp_path, "owner-bot", OWNERS=str(owner), LINK_TTL="7d"
    )
    control = emulator.control
    channel = emulator.config["bin_channel"]

    # A user's file: links that end in LINK_TTL.
    data = os.urandom(200_000)
    sent = control.send_document(user, data, dc=2, name="notes.txt")
    answer = latest(emulator, user, 1)
    download, watch = split(answer)
    assert "exp=" in download and "These links expire on" in answer["text"]
    assert 7 * 86400 - 120 < int(download.split("exp=")[1].split("&")[0]) - time.time() <= 7 * 86400
    assert httpx.get(download).content == data

    # /link with a lifetime, in reply to the file.
    control.send_text(user, "/link 90m", reply_to=sent["message_id"])
    relinked = latest(emulator, user, 2)
    short_download, short_watch = split(relinked)
    left = int(short_download.split("exp=")[1].split("&")[0]) - time.time()
    assert 90 * 60 - 120 < left <= 90 * 60
    assert statuses(short_download, short_watch) == [200, 200, 200]
    control.send_text(user, "/link soon", reply_to=sent["message_id"])
    assert "not a duration" in latest(emulator, user, 3)["text"]
    control.send_text(user, "/link 1h")  # a reply to nothing
    assert "reply" in latest(emulator, user, 4)["text"]

    # A non-owner's /revoke is refused, and changes nothing.
    control.send_text(user, "/revoke", reply_to=sent["message_id"])
    assert "only the bot's owners" in latest(emulator, user, 5)["text"]
    for command in ("/ban 5002", "/users", "/stats"):
        control.send_text(user, command)
    assert all("only the bot's owners" in m["text"] for m in messages(emulator, user, 8)[5:])
    assert httpx.get(download).status_code == 200

    # The owner revokes a file of their own by replying to the bot's links message.
    owner_data = os.urandom(100_000)
    control.send_document(owner, owner_data, dc=4, name="mine.bin")
    links_message = latest(emulator, owner, 1)
    owner_download, owner_watch = split(links_message)
    assert "exp=" in owner_download
    assert httpx.get(owner_download).content == owner_data
    control.send_text(owner, "/revoke", reply_to=links_message["id"])
    assert "410 Gone" in latest(emulator, owner, 2)["text"]
    before = link_calls(emulator)
    assert statuses(owner_download, owner_watch) == [410, 410, 410]
    assert link_calls(emulator) == before

    # ... and the user's file by its id; then gives both back.
    copy_id = int(download.split("/dl/")[1].split("/")[0])
    control.send_text(owner, f"/revoke {copy_id}")
    assert str(copy_id) in latest(emulator, owner, 3)["text"]
    assert statuses(download, watch) == [410, 410, 410]
    assert statuses(short_download, short_watch) == [410, 410, 410]
    control.send_text(owner, "/unrevoke", reply_to=links_message["id"])
    assert "work again" in latest(emulator, owner, 4)["text"]
    control.send_text(owner, f"/unrevoke {copy_id}")
    latest(emulator, owner, 5)
    assert statuses(owner_download, owner_watch) == [200, 200, 200]
    assert httpx.get(download).content == data

    # A banned user: one polite refusal per message, and nothing copied.
    control.send_text(owner, f"/ban {pest}")
    assert "banned" in latest(emulator, owner, 6)["text"]
    copies = len(control.channel_messages(channel))
    control.send_document(pest, os.urandom(5000), dc=2, name="spam.bin")
    refusal = latest(emulator, pest, 1)
    assert "no longer use this bot" in refusal["text"] and refusal["urls"] == []
    time.sleep(1)  # room for a wrong second answer or copy to show up
    assert len(control.messages_to(pest)) == 1
    assert len(control.channel_messages(channel)) == copies
    control.send_text(owner, f"/ban {owner}")
    assert "cannot be banned" in latest(emulator, owner, 7)["text"]

    control.send_text(owner, "/users")
    listing = latest(emulator, owner, 8)["text"]
    assert f"Owners: {owner}" in listing and f"Banned: {pest}" in listing
    assert "Allowed: everyone" in listing
    control.send_text(owner, "/stats")
    stats = latest(emulator, owner, 9)["text"]
    assert "Files resolved:" in stats and "Served:" in stats and "Flood waits:" in stats

    control.send_text(owner, f"/unban {pest}")
    assert "no longer banned" in latest(emulator, owner, 10)["text"]
    control.send_document(pest, os.urandom(5000), dc=2, name="ok.bin")
    assert "/dl/" in " ".join(messages(emulator, pest, 2)[1]["urls"])
    assert refusals(server, "revoked") >= 6
