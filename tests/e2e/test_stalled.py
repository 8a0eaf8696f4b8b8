"""Viewers who stop reading cost the server little: 1,000 of them, each stalled right after
the headers, let their parts go (nothing fetched ahead, nothing held), stay within issue
13's 64 KiB each above the part cache's budget, and are all cut once STALL_TIMEOUT passes
with no progress.  (Measured here: 58 KiB each, connection objects and what the socket's
transport buffers; no piece of body is held while the socket is full.)"""

from __future__ import annotations

import os
import random
import resource
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.conftest import new_server
from tests.support.processes import EmulatorProcess, ServerProcess

MiB = 1 << 20
READERS = 1000
CACHE_MB = 32
# Longer than opening the thousand readers takes on a busy machine (up to about a minute),
# so none is cut for stalling before the last one is open.
STALL = 90
PER_READER = 64 * 1024


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def stalled_reader(port: int, path: str, first: int) -> socket.socket:
    """A viewer that asks for a range, reads the headers, then never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(200)  # beyond the server's first-byte deadline here
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nRange: bytes={first}-\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(1024)
        assert data, "closed before the headers"
        head += data
    assert head.startswith(b"HTTP/1.1 206"), head[:100]
    return sock


def until(condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not within the bound"
        time.sleep(0.25)


@pytest.fixture(autouse=True)
def enough_files_here() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(hard, 8192):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))


def test_a_thousand_stalled_readers(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    size = 48 * MiB
    posted = emulator.post_to_channel(os.urandom(size), dc=4, name="film.mkv")
    server = new_server(
        server_factory,
        emulator,
        tmp_path,
        "stalled",
        CACHE_SIZE_MB=str(CACHE_MB),
        STALL_TIMEOUT=str(STALL),
        # A thousand cold starts at once queue for Telegram longer than the default 20 s on
        # a busy machine, and a viewer past the deadline rightly gets 503: this test is about
        # what stalled viewers cost, so every one of them must get its first byte.
        FIRST_BYTE_DEADLINE="180",
    )
    assert server.proc is not None
    path = server.link(int(posted["message_id"]), "film.mkv").removeprefix(server.url)
    # Warm: the DC 4 pool, the resolved file and a full cache, so what follows is the readers.
    warm = stalled_reader(server.port, path, 0)
    warm.close()
    rng = random.Random(7)
    for _ in range(2):
        for start in range(0, size, 4 * MiB):
            reader = stalled_reader(server.port, path, start + rng.randrange(MiB))
            reader.close()
    time.sleep(1)
    before = rss_bytes(server.proc.pid)

    # Ranges longer than what socket buffers take, so none can end before stalling.
    starts = [rng.randrange(size - 16 * MiB) for _ in range(READERS)]
    opening = time.monotonic()
    with ThreadPoolExecutor(64) as pool:
        readers = list(pool.map(lambda start: stalled_reader(server.port, path, start), starts))
    opened_in = time.monotonic() - opening
    assert opened_in < STALL, f"opening the readers took {opened_in:.0f} s, past STALL_TIMEOUT"
    # Every reader's stream has let its parts go (a stream releases once, on stalling).
    until(
        lambda: server.status()["stalled_releases"] >= server.status()["active_streams"] > 0,
        120,
    )
    status = server.status()
    assert status["active_streams"] >= READERS * 0.97, status["active_streams"]
    added = rss_bytes(server.proc.pid) - before
    bound = CACHE_MB * MiB + READERS * PER_READER
    print(
        f"\n{READERS} stalled readers opened in {opened_in:.0f} s: "
        f"RSS +{added / MiB:.1f} MiB (bound {bound / MiB:.1f} MiB)"
    )
    assert added <= bound
    assert status["pipeline_tasks"] == 0, "parts still being fetched for stalled readers"

    # No progress for STALL_TIMEOUT: every one of them is cut.
    cut_from = time.monotonic()
    until(lambda: server.status()["active_streams"] == 0, STALL + 30)
    assert time.monotonic() - cut_from >= STALL - 5
    assert server.status()["connections"]["closed_stalled"] >= READERS
    for reader in readers:
        reader.close()
