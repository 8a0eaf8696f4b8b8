"""Replicas on one shared state (STATE_URL=redis://…), each with its own SESSION_DIR: a second
one started after the first makes no key, no import and no sign-in on any DC, and serves the
same signed links byte-exact; a FLOOD_WAIT one was told is honoured by the other; Redis
stopped and started again costs the streams nothing and loses nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from tests.e2e.conftest import new_server
from tests.support.processes import ROOT, EmulatorProcess, ServerProcess, free_port
from tests.support.transfers import sha
from tgemu.launch import RedisProcess

MiB = 1 << 20
SIZE = 3 * MiB + 321
FILE_DC = 4
GET_FILE = "upload.getFile"
COUNTERS = ("auth_keys_created", "auth_imports", "bot_signins")


@dataclass
class Source:
    data: bytes
    message_id: int


def post(emu: EmulatorProcess, name: str = "clip.mp4") -> Source:
    data = os.urandom(SIZE)
    posted = emu.post_to_channel(data, dc=FILE_DC, name=name, mime_type="video/mp4")
    return Source(data, posted["message_id"])


def counters(emu: EmulatorProcess) -> dict[str, dict[int, int]]:
    stats = emu.stats()["dcs"]
    return {name: {int(dc): int(s[name]) for dc, s in stats.items()} for name in COUNTERS}


def nothing_new(emu: EmulatorProcess) -> dict[str, dict[int, int]]:
    dcs = [int(dc) for dc in emu.stats()["dcs"]]
    return {name: dict.fromkeys(dcs, 0) for name in COUNTERS}


def replica(
    started: list[ServerProcess], emu: EmulatorProcess, base: Path, name: str, url: str, **env: str
) -> ServerProcess:
    return new_server(started, emu, base, name, STATE_URL=url, CACHE_SIZE_MB="0", **env)


def test_a_second_replica_signs_nothing_in_and_serves_the_same_links(
    emu: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path, redis_url: str
) -> None:
    source = post(emu)
    first = replica(server_factory, emu, tmp_path, "first", redis_url)
    link = first.link(source.message_id, "clip.mp4")
    response = httpx.get(link, timeout=60)
    assert response.status_code == 200 and sha(response.content) == sha(source.data)
    assert emu.dc_stats(FILE_DC)["auth_imports"] == 1  # the first replica paid for DC 4

    emu.control.reset_stats()
    second = replica(server_factory, emu, tmp_path, "second", redis_url)
    # One SECRET, one signed path, whichever replica (or balancer) is in front.
    assert second.link(source.message_id, "clip.mp4") == link.replace(first.url, second.url)
    response = httpx.get(link.replace(first.url, second.url), timeout=60)
    assert response.status_code == 200 and sha(response.content) == sha(source.data)
    ranged = httpx.get(
        link.replace(first.url, second.url), headers={"Range": "bytes=1000-2000000"}, timeout=60
    )
    assert ranged.status_code == 206 and ranged.content == source.data[1000:2000001]
    assert counters(emu) == nothing_new(emu)
    # One key, two processes, each with session ids of its own: Telegram's rule holds.
    assert all(int(dc["auth_key_duplicated"]) == 0 for dc in emu.stats()["dcs"].values())
    # Its SESSION_DIR holds no bot session: the shared store does.
    assert not list(second.session_dir.glob("*.session"))
    assert second.status()["state"] == {"at": redis_url, "shared": True, "available": True}
    # Both at once on one SESSION_DIR lock is what SQLite refuses; on Redis both run.
    assert first.running() and second.running()


def test_a_flood_wait_one_replica_was_told_is_honoured_by_the_other(
    emu: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path, redis_url: str
) -> None:
    source = post(emu)
    first = replica(server_factory, emu, tmp_path, "first", redis_url)
    second = replica(server_factory, emu, tmp_path, "second", redis_url)
    link = first.link(source.message_id, "clip.mp4")
    other = link.replace(first.url, second.url)
    for url in (link, other):  # both warm on DC 4
        assert httpx.get(url, headers={"Range": "bytes=0-9"}, timeout=60).status_code == 206

    emu.control.flood_wait(GET_FILE, 120, dc=FILE_DC, count=1)
    told = httpx.get(link, headers={"Range": "bytes=2000000-2000009"}, timeout=60)
    assert told.status_code == 503 and int(told.headers["retry-after"]) > 100
    calls = int(emu.stats()["methods"][GET_FILE])

    refused = httpx.get(other, headers={"Range": "bytes=3000000-3000009"}, timeout=60)
    assert refused.status_code == 503 and int(refused.headers["retry-after"]) > 100
    assert int(emu.stats()["methods"][GET_FILE]) == calls  # the other replica never called
    assert emu.stats()["dcs"][str(FILE_DC)]["flood_waits"] == 1
    benched = second.status()["flood"]
    assert GET_FILE in str(benched), benched


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server of the test's own, to stop and start again."""
    server = RedisProcess(tmp_path / "redis", tmp_path / "redis.log", port=free_port()).start()
    yield server
    server.stop()


def wait_until(check: object, timeout: float = 30.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_redis_down_keeps_streams_refuses_what_needs_it_and_loses_nothing(
    emu: EmulatorProcess,
    server_factory: list[ServerProcess],
    tmp_path: Path,
    own_redis: RedisProcess,
) -> None:
    warm, known, unknown = post(emu, "warm.mp4"), post(emu, "known.mp4"), post(emu, "new.mp4")
    server = replica(server_factory, emu, tmp_path, "replica", own_redis.url)
    # DC 4 is warm (its key read, its connections open) and `known` resolved, never streamed.
    warm_link = server.link(warm.message_id, "warm.mp4")
    assert httpx.get(warm_link, headers={"Range": "bytes=0-9"}, timeout=60).status_code == 206
    known_link = server.link(known.message_id, "known.mp4")
    assert httpx.head(known_link, timeout=60).status_code == 200
    state = redis.Redis.from_url(own_redis.url)
    try:
        assert state.hlen("tgstream:dcmap") == 1
    finally:
        state.close()

    own_redis.stop()
    down_since = time.monotonic()
    # Links this replica resolved stream on, whole and byte-exact, from its memory.
    response = httpx.get(known_link, timeout=60)
    assert response.status_code == 200 and sha(response.content) == sha(known.data)
    # One it never resolved needs the shared state: 503 with Retry-After, not a 500.
    new_link = server.link(unknown.message_id, "new.mp4")
    refused = httpx.get(new_link, timeout=60)
    assert refused.status_code == 503 and int(refused.headers["retry-after"]) > 0
    assert server.status()["state"]["available"] is False
    # A replica started meanwhile waits for the state, says so, and signs nothing in.
    emu.control.reset_stats()
    late = ServerProcess(
        emu,
        tmp_path / "late-sessions",
        tmp_path / "late.log",
        extra_env={"STATE_URL": own_redis.url},
    )
    late.session_dir.mkdir()
    server_factory.append(late)
    late.start(wait_ready=False)
    wait_until(lambda: "shared state" in " ".join(late.status()["not_ready"]))
    assert httpx.get(f"{late.url}/readyz", timeout=10).status_code == 503
    time.sleep(max(0.0, 10 - (time.monotonic() - down_since)))

    own_redis.start()
    late.wait_ready(60)
    assert counters(emu) == nothing_new(emu)
    wait_until(lambda: server.status()["state"]["available"] is True)
    response = httpx.get(new_link, timeout=60)
    assert response.status_code == 200 and sha(response.content) == sha(unknown.data)
    # What was written while Redis was away (the DC of the file streamed then) is there.
    state = redis.Redis.from_url(own_redis.url)
    try:
        wait_until(lambda: state.hlen("tgstream:dcmap") == 3)
    finally:
        state.close()
    assert "Traceback" not in server.logs() and "Traceback" not in late.logs()


def test_a_servers_sqlite_state_migrated_into_an_empty_redis_makes_replicas_warm(
    emu: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path, redis_url: str
) -> None:
    source = post(emu)
    alone = new_server(server_factory, emu, tmp_path, "alone", CACHE_SIZE_MB="0")
    link = alone.link(source.message_id, "clip.mp4")
    assert httpx.get(link, headers={"Range": "bytes=0-9"}, timeout=60).status_code == 206
    assert alone.stop() == 0

    def migrate() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tgstream", "state", "migrate", "--to", redis_url,
             "--session-dir", str(alone.session_dir)],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
        )  # fmt: skip

    done = migrate()
    assert done.returncode == 0, done.stderr
    assert "1 bot sessions, 1 auth keys, 1 files" in done.stdout
    again = migrate()  # the target has state now: refused, untouched
    assert again.returncode == 2 and again.stdout == ""
    assert len(again.stderr.strip().splitlines()) == 1 and "already has" in again.stderr

    emu.control.reset_stats()
    migrated = replica(server_factory, emu, tmp_path, "migrated", redis_url)
    response = httpx.get(link.replace(alone.url, migrated.url), timeout=60)
    assert response.status_code == 200 and sha(response.content) == sha(source.data)
    assert counters(emu) == nothing_new(emu)
