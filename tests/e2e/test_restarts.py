"""Restarts: SIGKILL mid-stream leaves a whole store and a warm restart; SIGTERM drains and
exits 0.  A viewer cut off by either sees an incomplete transfer, never a short clean end."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import new_server
from tests.support.processes import EmulatorProcess, ServerProcess
from tests.support.transfers import assert_exact_or_aborted, read_while, sha

MiB = 1 << 20
SIZE = 10 * MiB + 777
FILE_DC = 4
# Per connection; with the server's 4 connections a 10 MiB body takes about five seconds.
SLOW_BPS = 500_000


@dataclass
class Source:
    data: bytes
    message_id: int


@pytest.fixture(scope="module")
def source(emulator: EmulatorProcess) -> Source:
    data = os.urandom(SIZE)
    posted = emulator.post_to_channel(data, dc=FILE_DC, name="clip.mp4", mime_type="video/mp4")
    return Source(data, posted["message_id"])


def sqlite_integrity(path: Path) -> str:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = db.execute("PRAGMA integrity_check").fetchone()
    finally:
        db.close()
    return str(row[0])


def counters(emu: EmulatorProcess, name: str) -> dict[int, int]:
    return {dc: emu.dc_stats(dc)[name] for dc in range(1, 6)}


def test_sigkill_mid_stream_then_restart_is_warm_and_links_hold(
    emu: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path, source: Source
) -> None:
    from tgstream.store.sqlite import SqliteStore

    server = new_server(server_factory, emu, tmp_path, "killed", CACHE_SIZE_MB="0")
    url = server.link(source.message_id, "clip.mp4")
    # Warm: resolve the file, make and import DC 4's key.
    assert httpx.get(url, headers={"Range": "bytes=0-99"}, timeout=60).status_code == 206
    assert emu.dc_stats(FILE_DC)["auth_imports"] == 1
    proc = server.proc
    assert proc is not None

    emu.faults(dcs={str(FILE_DC): {"bandwidth_bps": SLOW_BPS}})
    transfer = read_while(url, 2 * MiB, lambda: proc.send_signal(signal.SIGKILL), timeout=60)
    assert proc.wait(30) == -signal.SIGKILL
    server.proc = None
    # Killed mid-body: the viewer must see the cut.
    assert transfer.status == 200 and transfer.aborted_with is not None
    assert 2 * MiB <= transfer.received < SIZE

    # The store survived the kill whole, with DC 4's key still authorized.
    store = SqliteStore(server.session_dir)
    try:
        assert store.integrity_ok()
        bot_id = int(emu.config["bot_ids"][0])
        record = asyncio.run(store.auth_key(bot_id, FILE_DC))
        assert record is not None and record.authorized
    finally:
        store.close_now()
    sessions = sorted(server.session_dir.glob("*.session"))
    assert sessions, "no Kurigram session file"
    for path in sessions:
        assert sqlite_integrity(path) == "ok", path

    emu.reset()
    server.start()
    # The very link made before the kill, full and ranged.
    response = httpx.get(url, timeout=60)
    assert response.status_code == 200 and sha(response.content) == sha(source.data)
    first, last = 3 * MiB + 5, 7 * MiB
    response = httpx.get(url, headers={"Range": f"bytes={first}-{last}"}, timeout=60)
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {first}-{last}/{SIZE}"
    assert sha(response.content) == sha(source.data[first : last + 1])
    for name in ("auth_keys_created", "auth_imports", "bot_signins"):
        assert counters(emu, name) == dict.fromkeys(range(1, 6), 0), name


def test_sigterm_during_slow_stream_drains_and_exits_zero(
    emu: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path, source: Source
) -> None:
    server = new_server(server_factory, emu, tmp_path, "drained", CACHE_SIZE_MB="0")
    url = server.link(source.message_id, "clip.mp4")
    assert httpx.get(url, headers={"Range": "bytes=0-99"}, timeout=60).status_code == 206
    proc = server.proc
    assert proc is not None

    emu.faults(dcs={str(FILE_DC): {"bandwidth_bps": SLOW_BPS}})
    signalled: list[float] = []

    def terminate() -> None:
        signalled.append(time.monotonic())
        proc.send_signal(signal.SIGTERM)

    transfer = read_while(url, MiB, terminate, timeout=60)
    # Graceful shutdown gives in-flight bodies 15 s, then Telegram sessions get 10 s to close.
    code = proc.wait(60)
    exited_after = time.monotonic() - signalled[0]
    server.proc = None
    assert code == 0
    assert exited_after < 45
    assert_exact_or_aborted(transfer, source.data)
    assert "Traceback" not in server.logs()
    outcome = "aborted" if transfer.aborted_with else "complete, byte-exact"
    print(f"\nSIGTERM mid-stream: exit 0 after {exited_after:.1f} s; body {outcome}")


def test_sigterm_with_no_traffic_exits_zero(
    emu: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path, source: Source
) -> None:
    server = new_server(server_factory, emu, tmp_path, "idle")
    with httpx.Client(timeout=30) as client:
        # A keep-alive connection left idle must not hold the shutdown.
        assert client.get(f"{server.url}/healthz").status_code == 200
        response = client.get(server.link(source.message_id), headers={"Range": "bytes=0-9"})
        assert response.status_code == 206 and response.content == source.data[:10]
        started = time.monotonic()
        code = server.stop(signal.SIGTERM, timeout=40)
        took = time.monotonic() - started
    assert code == 0
    assert took < 30
    assert "Traceback" not in server.logs()
