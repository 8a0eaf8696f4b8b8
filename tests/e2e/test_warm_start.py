"""Warm start: a restarted server opens the connections of the DCs that served the most
streams before anyone asks, from the keys it kept (no new key, no import, no sign-in), and
only those; the first byte then costs one round trip to the DC, not the connection's too."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import new_server
from tests.support.processes import EmulatorProcess, ServerProcess
from tests.support.transfers import sha

MiB = 1 << 20
BUSY_DC, QUIET_DC, HOME_DC = 4, 5, 2
RTT_MS = 80
# The bound for a freshly started server's first byte.
FIRST_BYTE_BOUND_S = (2 * RTT_MS + 50) / 1000
HEAD = 64 * 1024


@dataclass
class Posted:
    data: bytes
    message_id: int


def post(emu: EmulatorProcess, dc: int, name: str, size: int) -> Posted:
    data = os.urandom(size)
    return Posted(data, emu.post_to_channel(data, dc=dc, name=name)["message_id"])


def read_range(url: str, first: int, length: int) -> bytes:
    headers = {"Range": f"bytes={first}-{first + length - 1}"}
    got = httpx.get(url, headers=headers, timeout=60)
    assert got.status_code == 206
    return got.content


def first_byte(url: str, expected: bytes) -> float:
    """Seconds from sending a whole-file GET to its first body byte (the client is made
    before the clock starts: the server's time, not the client library's setup); the head
    read is checked."""
    body = bytearray()
    took: float | None = None
    with httpx.Client(timeout=60) as client:
        started = time.perf_counter()
        with client.stream("GET", url) as response:
            assert response.status_code == 200
            for chunk in response.iter_raw():
                if took is None:
                    took = time.perf_counter() - started
                body += chunk
                if len(body) >= HEAD:
                    break
    assert took is not None
    assert sha(bytes(body[:HEAD])) == sha(expected[:HEAD])
    return took


def totals(emu: EmulatorProcess, name: str) -> int:
    return sum(int(d[name]) for d in emu.stats()["dcs"].values())


def warmed(server: ServerProcess, timeout: float = 20.0) -> list[int]:
    """The DCs the server's warm-up reports open (its log), once it has."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in server.logs().splitlines():
            if '"DC pools warm"' in line:
                return [int(dc) for dc in json.loads(json.loads(line)["dcs"])]
        time.sleep(0.02)
    raise AssertionError(f"no warm-up reported within {timeout:.0f} s")


def until(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def served_counts(state_url: str | None, session_dir: Path) -> dict[int, int]:
    from tgstream.store import open_store

    async def read() -> dict[int, int]:
        store = open_store(state_url, session_dir)
        try:
            return await store.dc_served()
        finally:
            await store.close()

    return asyncio.run(read())


@pytest.fixture(params=["sqlite", "redis"])
def restarted(
    request: pytest.FixtureRequest,
    emu: EmulatorProcess,
    server_factory: list[ServerProcess],
    tmp_path: Path,
) -> tuple[ServerProcess, Posted]:
    """A server (on its SQLite state, or on Redis) that served three streams from DC 4 and
    one from DC 5 (paying one key and one import on each), stopped, then started again with
    both DCs 80 ms away; the emulator's counters start from zero at the restart."""
    state_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    busy = post(emu, BUSY_DC, "busy.bin", 3 * MiB)
    quiet = post(emu, QUIET_DC, "quiet.bin", MiB)
    server = new_server(
        server_factory,
        emu,
        tmp_path,
        "warm",
        CACHE_SIZE_MB="0",
        CONNECTIONS_PER_DC="2",
        WARM_DCS="1",
        **({"STATE_URL": state_url} if state_url else {}),
    )
    busy_url = server.link(busy.message_id, "busy.bin")
    for first in (0, MiB, 2 * MiB):
        assert read_range(busy_url, first, 100) == busy.data[first : first + 100]
    quiet_url = server.link(quiet.message_id, "quiet.bin")
    assert read_range(quiet_url, 0, 100) == quiet.data[:100]
    assert emu.dc_stats(BUSY_DC)["auth_imports"] == 1
    assert emu.dc_stats(QUIET_DC)["auth_imports"] == 1
    assert server.stop() == 0

    # What each DC served is kept in the store (written at the latest when the server stops).
    served = served_counts(state_url, server.session_dir)
    assert served[BUSY_DC] > served[QUIET_DC] > 0
    assert set(served) == {BUSY_DC, QUIET_DC}

    emu.reset()
    for dc in (BUSY_DC, QUIET_DC):
        emu.control.shape_dc(dc, latency_ms=RTT_MS)
    server.start()
    return server, busy


def test_restart_opens_only_the_busiest_dc_from_its_kept_key_and_serves_within_two_rtt(
    emu: EmulatorProcess, restarted: tuple[ServerProcess, Posted]
) -> None:
    server, busy = restarted
    # Nobody asked yet: the warm-up opens DC 4 (WARM_DCS=1, the DC that served the most),
    # not DC 5, and pays nothing to do it.
    assert warmed(server) == [BUSY_DC]
    # The whole pool: its first connection, its lane and its second (CONNECTIONS_PER_DC=2).
    assert until(lambda: emu.dc_stats(BUSY_DC)["open_connections"] == 3)
    assert emu.dc_stats(QUIET_DC)["connections"] == 0
    assert totals(emu, "auth_keys_created") == 0
    assert totals(emu, "auth_imports") == 0
    assert totals(emu, "bot_signins") == 0

    took = first_byte(server.link(busy.message_id, "busy.bin"), busy.data)
    assert took <= FIRST_BYTE_BOUND_S, f"first byte after {took * 1000:.0f} ms"
    # The request used the warm pool: still nothing new paid, DC 5 still untouched.
    assert totals(emu, "auth_keys_created") == 0
    assert totals(emu, "auth_imports") == 0
    assert totals(emu, "bot_signins") == 0
    assert emu.dc_stats(QUIET_DC)["connections"] == 0


def test_a_request_during_the_warm_up_joins_it(
    emu: EmulatorProcess, restarted: tuple[ServerProcess, Posted]
) -> None:
    server, busy = restarted
    # At once after start-up, perhaps before the warm-up is done: served, and by the same
    # pool (DC 4's connections: the pool's first, its lane and its second, none twice).
    first_byte(server.link(busy.message_id, "busy.bin"), busy.data)
    assert warmed(server) == [BUSY_DC]
    assert emu.dc_stats(BUSY_DC)["connections"] == 3
    assert totals(emu, "auth_keys_created") == 0
    assert totals(emu, "auth_imports") == 0
    assert totals(emu, "bot_signins") == 0
