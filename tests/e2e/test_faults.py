"""Faults injected mid-body on 50 MiB downloads: every body is byte-exact or visibly aborted.

A body that completes must hash equal to the source and be exactly Content-Length long; a body
that cannot complete must end with the connection cut before Content-Length bytes (the HTTP
client sees an incomplete message), never a clean, short 200/206.  The file lives on DC 4,
not the bot's home DC 2, so every part goes through an exported/imported authorization.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.e2e.conftest import new_server
from tests.support.processes import EmulatorProcess, ServerProcess
from tests.support.transfers import Transfer, assert_exact_or_aborted, read_while, sha

MiB = 1 << 20
SIZE = 50 * MiB + 4321
FILE_DC = 4
HOME_DC = 2
# Enough per-connection bandwidth to keep a 50 MiB body in flight for a couple of seconds, so
# a fault posted after N bytes lands mid-body, yet the whole module stays quick.
PACED_BPS = 12_000_000


@dataclass
class Tally:
    """What this module did, printed at the end (pytest -s) for the report."""

    faults: int = 0
    completed: int = 0
    aborted: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


TALLY = Tally()


@dataclass
class Source:
    data: bytes
    message_id: int


@pytest.fixture(scope="module")
def source(emulator: EmulatorProcess) -> Source:
    data = os.urandom(SIZE)
    posted = emulator.post_to_channel(
        data, dc=FILE_DC, name="film.mkv", mime_type="video/x-matroska"
    )
    return Source(data, posted["message_id"])


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    yield TALLY
    print(
        f"\nfaults injected: {TALLY.faults}; bodies verified byte-exact: {TALLY.completed}; "
        f"bodies aborted cleanly: {TALLY.aborted}; by fault: {TALLY.kinds}"
    )


@pytest.fixture(scope="module")
def server(
    emulator: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory, source: Source
) -> Iterator[ServerProcess]:
    """One server for the module: each fault must leave it whole for the next test."""
    base = tmp_path_factory.mktemp("faults")
    emulator.reset()
    started: list[ServerProcess] = []
    # No part cache: every byte of every body comes from DC 4 while the fault is live.
    server = new_server(started, emulator, base, "faults", CACHE_SIZE_MB="0")
    # Warm DC 4 (key + import) before any counter is read, so each test sees only its fault.
    get_exact(server.link(source.message_id), source.data[:1000], "bytes=0-999")
    yield server
    assert server.stop() == 0


def check(outcome: Transfer, expected: bytes, status: int, kind: str) -> None:
    """Byte-exact and complete, or cut short with a transport error, with the fault landed
    mid-body; counted for the report."""
    assert 0 <= outcome.received_when_acted < len(expected), "fault landed after the body"
    assert_exact_or_aborted(outcome, expected, status)
    TALLY.faults += 1
    TALLY.kinds[kind] = TALLY.kinds.get(kind, 0) + 1
    if outcome.aborted_with is None:
        TALLY.completed += 1
    else:
        TALLY.aborted += 1


def get_exact(url: str, expected: bytes, range_header: str | None = None) -> None:
    headers = {"Range": range_header} if range_header else {}
    response = httpx.get(url, headers=headers, timeout=90)
    assert response.status_code == (206 if range_header else 200)
    assert int(response.headers["content-length"]) == len(expected)
    assert sha(response.content) == sha(expected)
    TALLY.completed += 1


def until_cut(emu: EmulatorProcess, before: int, bound: float = 20.0) -> None:
    """Until a connection to the file's DC was cut and made again, or `bound` seconds."""
    deadline = time.monotonic() + bound
    while emu.dc_stats(FILE_DC)["connections"] <= before and time.monotonic() < deadline:
        time.sleep(0.05)


def pace(emu: EmulatorProcess) -> None:
    emu.faults(dcs={str(FILE_DC): {"bandwidth_bps": PACED_BPS}})


def totals(emu: EmulatorProcess, counter: str) -> int:
    return sum(emu.dc_stats(dc)[counter] for dc in range(1, 6))


@pytest.mark.parametrize("seed", [11, 23, 47])
def test_connection_drops_at_random_points(
    emu: EmulatorProcess, server: ServerProcess, source: Source, tally: Tally, seed: int
) -> None:
    rng = random.Random(seed)
    data = source.data
    # Odd seeds of the draw ask for a range, so 206 bodies face the same drops.
    first = rng.randrange(0, 20 * MiB) if seed % 2 else 0
    last = rng.randrange(first + 30 * MiB, SIZE) if seed % 2 else SIZE - 1
    range_header = f"bytes={first}-{last}" if seed % 2 else None
    expected = data[first : last + 1]
    at = rng.randrange(MiB, len(expected) // 3)
    cut_after = rng.randrange(200_000, 3 * MiB)
    hold = rng.uniform(0.2, 1.0)

    def drop() -> None:
        emu.faults(dcs={str(FILE_DC): {"drop_after_bytes": cut_after}})
        time.sleep(hold)
        # The fault stays until it has cut a connection (the body may be paused on a busy
        # machine while `hold` passes); bounded, and the assertion below says if it never did.
        until_cut(emu, before)
        emu.faults(dcs={str(FILE_DC): {"drop_after_bytes": None}})

    pace(emu)
    before = emu.dc_stats(FILE_DC)["connections"]
    outcome = read_while(server.link(source.message_id), at, drop, range_header)
    check(outcome, expected, 206 if range_header else 200, "drop_after_bytes")
    assert emu.dc_stats(FILE_DC)["connections"] > before, "no connection was cut"
    # The server is whole again: the next body, unfaulted, is exact.
    emu.reset()
    get_exact(server.link(source.message_id), data[-3 * MiB :], f"bytes=-{3 * MiB}")


def test_random_frame_drops(
    emu: EmulatorProcess, server: ServerProcess, source: Source, tally: Tally
) -> None:
    def flaky() -> None:
        emu.faults(dcs={str(FILE_DC): {"drop_probability": 0.15}})
        time.sleep(1.0)
        until_cut(emu, before)
        emu.faults(dcs={str(FILE_DC): {"drop_probability": 0.0}})

    pace(emu)
    before = emu.dc_stats(FILE_DC)["connections"]
    outcome = read_while(server.link(source.message_id), 4 * MiB, flaky)
    check(outcome, source.data, 200, "drop_probability")
    assert emu.dc_stats(FILE_DC)["connections"] > before


def test_flood_wait_on_get_file_is_waited_out(
    emu: EmulatorProcess, server: ServerProcess, source: Source, tally: Tally
) -> None:
    def flood() -> None:
        emu.faults(
            flood_waits=[{"method": "upload.getFile", "dc": FILE_DC, "seconds": 2, "count": 3}]
        )

    pace(emu)
    first = 7 * MiB + 1
    outcome = read_while(server.link(source.message_id), 2 * MiB, flood, f"bytes={first}-")
    # A 2 s wait is under the sleep threshold: it must be slept, never turned into an abort.
    assert outcome.aborted_with is None
    check(outcome, source.data[first:], 206, "flood_wait")
    assert emu.dc_stats(FILE_DC)["flood_waits"] == 3
    flood_status = server.status()["flood"]
    assert flood_status["waits_slept"] == 3 and flood_status["failovers"] == 0


def test_file_reference_expired_is_refreshed(
    emu: EmulatorProcess, server: ServerProcess, source: Source, tally: Tally
) -> None:
    def rotate() -> None:
        emu.faults(rotate_file_references=True)

    pace(emu)
    outcome = read_while(server.link(source.message_id), 5 * MiB, rotate)
    assert outcome.aborted_with is None
    check(outcome, source.data, 200, "file_reference_expired")
    assert emu.dc_stats(FILE_DC)["file_reference_expired"] >= 1
    assert server.status()["file_reference_refreshes"] >= 1


def test_auth_key_unregistered_reimports_without_signing_in(
    emu: EmulatorProcess, server: ServerProcess, source: Source, tally: Tally
) -> None:
    def revoke() -> None:
        emu.faults(revoke_authorizations=[FILE_DC])

    pace(emu)
    outcome = read_while(server.link(source.message_id), 3 * MiB, revoke)
    assert outcome.aborted_with is None
    check(outcome, source.data, 200, "auth_key_unregistered")
    dc4 = emu.dc_stats(FILE_DC)
    # One reset of DC 4's authorization, however many requests were in flight when it hit.
    assert dc4["auth_imports"] == 1
    assert dc4["auth_keys_created"] <= 1
    assert totals(emu, "bot_signins") == 0
    assert emu.dc_stats(HOME_DC)["auth_keys_created"] == 0
    errors = emu.stats()["errors"]
    assert errors.get("AUTH_KEY_UNREGISTERED", 0) >= 1


def test_dc_down_for_five_seconds(
    emu: EmulatorProcess, server: ServerProcess, source: Source, tally: Tally
) -> None:
    def outage() -> None:
        emu.faults(dcs={str(FILE_DC): {"down": True}})
        time.sleep(5.0)
        emu.faults(dcs={str(FILE_DC): {"down": False}})

    pace(emu)
    outcome = read_while(server.link(source.message_id), 6 * MiB, outage)
    check(outcome, source.data, 200, "dc_down_5s")
    # Once the DC is back, a new request is served in full.
    emu.reset()
    get_exact(server.link(source.message_id), source.data[: 5 * MiB], f"bytes=0-{5 * MiB - 1}")
    assert totals(emu, "bot_signins") == 0


def test_latency_spike(
    emu: EmulatorProcess, server: ServerProcess, source: Source, tally: Tally
) -> None:
    def spike() -> None:
        emu.faults(dcs={str(FILE_DC): {"latency_ms": 1500}})
        time.sleep(2.0)
        emu.faults(dcs={str(FILE_DC): {"latency_ms": 0}})

    pace(emu)
    first = 1234567
    outcome = read_while(
        server.link(source.message_id), 3 * MiB, spike, f"bytes={first}-{SIZE - 2}"
    )
    assert outcome.aborted_with is None
    check(outcome, source.data[first : SIZE - 1], 206, "latency_spike")
