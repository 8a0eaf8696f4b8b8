"""Faults injected mid-body on 50 MiB downloads: every body is byte-exact or visibly aborted.

A body that completes must hash equal to the source and be exactly Content-Length long; a body
that cannot complete must end with the connection cut before Content-Length bytes (the HTTP
client sees an incomplete message), never a clean, short 200/206.  The file lives on DC 4,
not the bot's home DC 2, so every part goes through an exported/imported authorization.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.e2e.conftest import new_server
from tests.support.processes import EmulatorProcess, ServerProcess

MiB = 1 << 20
SIZE = 50 * MiB + 4321
FILE_DC = 4
HOME_DC = 2
# Enough per-connection bandwidth to keep a 50 MiB body in flight for a couple of seconds, so
# a fault posted after N bytes lands mid-body, yet the whole module stays quick.
PACED_BPS = 12_000_000

Inject = Callable[[EmulatorProcess], None]


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


@dataclass
class Outcome:
    status: int
    expected_length: int
    received: int
    digest: str
    aborted_with: Exception | None
    received_when_injected: int


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


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_with_fault(
    emu: EmulatorProcess,
    url: str,
    inject: Inject,
    at_bytes: int,
    range_header: str | None = None,
) -> Outcome:
    """GET `url`; once `at_bytes` of body arrived, a background thread runs `inject`.

    The body is read raw and hashed as it comes.  An incomplete transfer is recognised only
    from the HTTP client's own protocol/read errors, which is what a viewer would see.
    """
    received = 0
    reached = threading.Event()
    finished = threading.Event()
    injected_at: list[int] = []
    failures: list[BaseException] = []

    def injector() -> None:
        try:
            if reached.wait(120) and not finished.is_set():
                injected_at.append(received)
                inject(emu)
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    thread = threading.Thread(target=injector, name="fault-injector", daemon=True)
    thread.start()
    hasher = hashlib.sha256()
    status, expected_length = 0, -1
    aborted: Exception | None = None
    headers = {"Range": range_header} if range_header else {}
    try:
        with httpx.stream("GET", url, headers=headers, timeout=90) as response:
            status = response.status_code
            expected_length = int(response.headers["content-length"])
            for chunk in response.iter_raw():
                hasher.update(chunk)
                received += len(chunk)
                if received >= at_bytes:
                    reached.set()
    except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
        aborted = exc
    finally:
        finished.set()
        reached.set()
        thread.join(60)
    assert not thread.is_alive(), "the fault injector hung"
    if failures:
        raise failures[0]
    return Outcome(
        status,
        expected_length,
        received,
        hasher.hexdigest(),
        aborted,
        injected_at[0] if injected_at else -1,
    )


def check(outcome: Outcome, expected: bytes, status: int, kind: str) -> None:
    """Byte-exact and complete, or cut short with a transport error: nothing else."""
    assert outcome.status == status
    assert outcome.expected_length == len(expected)
    assert 0 <= outcome.received_when_injected < len(expected), "fault landed after the body"
    TALLY.faults += 1
    TALLY.kinds[kind] = TALLY.kinds.get(kind, 0) + 1
    if outcome.aborted_with is None:
        assert outcome.received == len(expected), "a clean end with a short body"
        assert outcome.digest == sha(expected)
        TALLY.completed += 1
    else:
        assert outcome.received < len(expected), outcome.aborted_with
        TALLY.aborted += 1


def get_exact(url: str, expected: bytes, range_header: str | None = None) -> None:
    headers = {"Range": range_header} if range_header else {}
    response = httpx.get(url, headers=headers, timeout=90)
    assert response.status_code == (206 if range_header else 200)
    assert int(response.headers["content-length"]) == len(expected)
    assert sha(response.content) == sha(expected)
    TALLY.completed += 1


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

    def drop(emu: EmulatorProcess) -> None:
        emu.faults(dcs={str(FILE_DC): {"drop_after_bytes": cut_after}})
        time.sleep(hold)
        emu.faults(dcs={str(FILE_DC): {"drop_after_bytes": None}})

    pace(emu)
    before = emu.dc_stats(FILE_DC)["connections"]
    outcome = download_with_fault(emu, server.link(source.message_id), drop, at, range_header)
    check(outcome, expected, 206 if range_header else 200, "drop_after_bytes")
    assert emu.dc_stats(FILE_DC)["connections"] > before, "no connection was cut"
    # The server is whole again: the next body, unfaulted, is exact.
    emu.reset()
    get_exact(server.link(source.message_id), data[-3 * MiB :], f"bytes=-{3 * MiB}")


def test_random_frame_drops(
    emu: EmulatorProcess, server: ServerProcess, source: Source, tally: Tally
) -> None:
    def flaky(emu: EmulatorProcess) -> None:
        emu.faults(dcs={str(FILE_DC): {"drop_probability": 0.15}})
        time.sleep(1.0)
        emu.faults(dcs={str(FILE_DC): {"drop_probability": 0.0}})

    pace(emu)
    before = emu.dc_stats(FILE_DC)["connections"]
    outcome = download_with_fault(emu, server.link(source.message_id), flaky, 4 * MiB)
    check(outcome, source.data, 200, "drop_probability")
    assert emu.dc_stats(FILE_DC)["connections"] > before


def test_flood_wait_on_get_file_is_waited_out(
    emu: EmulatorProcess, server: ServerProcess, source: Source, tally: Tally
) -> None:
    def flood(emu: EmulatorProcess) -> None:
        emu.faults(
            flood_waits=[{"method": "upload.getFile", "dc": FILE_DC, "seconds": 2, "count": 3}]
        )

    pace(emu)
    first = 7 * MiB + 1
    outcome = download_with_fault(
        emu, server.link(source.message_id), flood, 2 * MiB, f"bytes={first}-"
    )
    # A 2 s wait is under the sleep threshold: it must be slept, never turned into an abort.
    assert outcome.aborted_with is None
    check(outcome, source.data[first:], 206, "flood_wait")
    assert emu.dc_stats(FILE_DC)["flood_waits"] == 3
    flood_status = server.status()["flood"]
    assert flood_status["waits_slept"] == 3 and flood_status["failovers"] == 0


def test_file_reference_expired_is_refreshed(
    emu: EmulatorProcess, server: ServerProcess, source: Source, tally: Tally
) -> None:
    def rotate(emu: EmulatorProcess) -> None:
        emu.faults(rotate_file_references=True)

    pace(emu)
    outcome = download_with_fault(emu, server.link(source.message_id), rotate, 5 * MiB)
    assert outcome.aborted_with is None
    check(outcome, source.data, 200, "file_reference_expired")
    assert emu.dc_stats(FILE_DC)["file_reference_expired"] >= 1
    assert server.status()["file_reference_refreshes"] >= 1


def test_auth_key_unregistered_reimports_without_signing_in(
    emu: EmulatorProcess, server: ServerProcess, source: Source, tally: Tally
) -> None:
    def revoke(emu: EmulatorProcess) -> None:
        emu.faults(revoke_authorizations=[FILE_DC])

    pace(emu)
    outcome = download_with_fault(emu, server.link(source.message_id), revoke, 3 * MiB)
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
    def outage(emu: EmulatorProcess) -> None:
        emu.faults(dcs={str(FILE_DC): {"down": True}})
        time.sleep(5.0)
        emu.faults(dcs={str(FILE_DC): {"down": False}})

    pace(emu)
    outcome = download_with_fault(emu, server.link(source.message_id), outage, 6 * MiB)
    check(outcome, source.data, 200, "dc_down_5s")
    # Once the DC is back, a new request is served in full.
    emu.reset()
    get_exact(server.link(source.message_id), source.data[: 5 * MiB], f"bytes=0-{5 * MiB - 1}")
    assert totals(emu, "bot_signins") == 0


def test_latency_spike(
    emu: EmulatorProcess, server: ServerProcess, source: Source, tally: Tally
) -> None:
    def spike(emu: EmulatorProcess) -> None:
        emu.faults(dcs={str(FILE_DC): {"latency_ms": 1500}})
        time.sleep(2.0)
        emu.faults(dcs={str(FILE_DC): {"latency_ms": 0}})

    pace(emu)
    first = 1234567
    outcome = download_with_fault(
        emu, server.link(source.message_id), spike, 3 * MiB, f"bytes={first}-{SIZE - 2}"
    )
    assert outcome.aborted_with is None
    check(outcome, source.data[first : SIZE - 1], 206, "latency_spike")
