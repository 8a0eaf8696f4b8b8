"""`tgstream serve` and the emulator as two processes, real MTProto between them."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import new_server
from tests.support.processes import ROOT, EmulatorProcess, ServerProcess

MiB = 1 << 20
SIZE = 50 * MiB + 12345


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def big_file(emulator: EmulatorProcess) -> tuple[bytes, int]:
    data = os.urandom(SIZE)
    posted = emulator.post_to_channel(data, dc=4, name="movie.mp4", mime_type="video/mp4")
    return data, posted["message_id"]


@pytest.fixture(scope="module")
def shared_server(
    emulator: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> ServerProcess:
    base = tmp_path_factory.mktemp("shared")
    emulator.reset()
    started: list[ServerProcess] = []
    server = new_server(started, emulator, base, "shared")
    yield server  # type: ignore[misc]
    server.stop()


def test_full_get_and_head(shared_server: ServerProcess, big_file: tuple[bytes, int]) -> None:
    data, message_id = big_file
    url = shared_server.link(message_id, "movie.mp4")
    response = httpx.get(url, timeout=120)
    assert response.status_code == 200
    assert sha(response.content) == sha(data)
    assert response.headers["content-length"] == str(SIZE)
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["accept-ranges"] == "bytes"
    head = httpx.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(SIZE)
    assert head.headers["etag"] == response.headers["etag"]


def test_sigusr1_logs_where_every_task_waits_and_the_server_serves_on(
    shared_server: ServerProcess, big_file: tuple[bytes, int]
) -> None:
    """`kill -USR1` writes one record of the asyncio tasks' await chains (for a server that
    stops answering) and changes nothing else."""
    data, message_id = big_file
    url = shared_server.link(message_id, "movie.mp4")
    with httpx.stream("GET", url, headers={"Range": "bytes=0-"}, timeout=60) as held:
        assert held.status_code == 206
        dump = shared_server.task_dump(wait=10)
        assert dump is not None, "no task record after SIGUSR1"
        record = json.loads(dump)
        assert record["level"] == "warning" and record["tasks"] > 1
        # The held response is among them: waiting on a part (down in tgstream.streaming)
        # or on the viewer's socket (in the HTTP send), whichever it reached.
        assert "starlette.responses" in record["waiting"]
        assert "stream_response" in record["waiting"]
    assert httpx.get(url, headers={"Range": "bytes=0-99"}).content == data[:100]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_ranges_are_byte_exact(
    shared_server: ServerProcess, big_file: tuple[bytes, int], data: st.DataObject
) -> None:
    source, message_id = big_file
    size = len(source)
    kind = data.draw(st.sampled_from(["closed", "open", "suffix", "last", "past"]))
    first = data.draw(st.integers(0, size - 1))
    length = data.draw(st.integers(1, 3 * MiB))
    if kind == "closed":
        header, expected = f"bytes={first}-{first + length - 1}", source[first : first + length]
        if first + length - 1 >= size:
            expected = source[first:]
    elif kind == "open":
        first = max(first, size - 3 * MiB)
        header, expected = f"bytes={first}-", source[first:]
    elif kind == "suffix":
        header, expected = f"bytes=-{length}", source[-length:]
    elif kind == "last":
        header, expected = f"bytes={size - 1}-{size - 1}", source[-1:]
    else:
        header, expected = f"bytes={size + length}-", b""
    response = httpx.get(shared_server.link(message_id), headers={"Range": header}, timeout=60)
    if kind == "past":
        assert response.status_code == 416
        assert response.headers["content-range"] == f"bytes */{size}"
        return
    assert response.status_code == 206, (header, response.text[:200])
    assert sha(response.content) == sha(expected)
    start = size - len(expected) if kind in ("suffix", "last") else first
    assert response.headers["content-range"] == f"bytes {start}-{start + len(expected) - 1}/{size}"


def test_seeks_pay_one_key_and_one_import(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data = os.urandom(20 * MiB)
    message_id = emulator.post_to_channel(data, dc=4)["message_id"]
    emulator.reset()
    server = new_server(server_factory, emulator, tmp_path, "seeks")
    for index in range(20):
        offset = (index * 7919 * 4099) % (len(data) - 300_000)
        response = httpx.get(
            server.link(message_id), headers={"Range": f"bytes={offset}-"}, timeout=60
        )
        # Read a little of each seek and hang up, as a player does.
        assert response.status_code == 206
        assert response.content[:1000] == data[offset : offset + 1000]
    dc4 = emulator.dc_stats(4)
    assert dc4["auth_keys_created"] == 1 and dc4["auth_imports"] == 1
    assert dc4["file_migrate_errors"] == 0
    assert sum(emulator.dc_stats(dc)["file_migrate_errors"] for dc in range(1, 6)) == 0


def test_concurrent_first_requests_make_one_key_and_viewers_share_parts(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data = os.urandom(8 * MiB + 77)
    message_id = emulator.post_to_channel(data, dc=5)["message_id"]
    emulator.reset()
    server = new_server(server_factory, emulator, tmp_path, "crowd")
    url = server.link(message_id)
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        bodies = list(pool.map(lambda _: httpx.get(url, timeout=120).content, range(10)))
    assert all(sha(b) == sha(data) for b in bodies)
    dc5 = emulator.dc_stats(5)
    assert dc5["auth_keys_created"] == 1 and dc5["auth_imports"] == 1
    assert dc5["getfile_bytes"] <= 1.1 * len(data)


def test_restart_makes_no_new_keys_imports_or_sign_ins(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data = os.urandom(3 * MiB + 5)
    on_dc4 = emulator.post_to_channel(data, dc=4)["message_id"]
    on_dc2 = emulator.post_to_channel(data, dc=2)["message_id"]
    server = new_server(server_factory, emulator, tmp_path, "restart")
    for message_id in (on_dc4, on_dc2):
        assert sha(httpx.get(server.link(message_id), timeout=60).content) == sha(data)
    assert server.stop() == 0
    emulator.reset()
    server.start()
    for message_id in (on_dc4, on_dc2):
        assert sha(httpx.get(server.link(message_id), timeout=60).content) == sha(data)
    for dc in range(1, 6):
        counters = emulator.dc_stats(dc)
        assert counters["auth_keys_created"] == 0, dc
        assert counters["auth_imports"] == 0, dc
        assert counters["bot_signins"] == 0, dc


def _download_during(url: str, action: threading.Event) -> bytes:
    chunks = []
    with httpx.stream("GET", url, timeout=120) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            if sum(map(len, chunks)) > 2 * MiB:
                action.set()
    return b"".join(chunks)


@pytest.mark.parametrize("fault", ["reference", "drop", "flood"])
def test_faults_mid_stream_leave_bodies_byte_exact(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path, fault: str
) -> None:
    data = os.urandom(12 * MiB + 3)
    message_id = emulator.post_to_channel(data, dc=4)["message_id"]
    # Few connections (4 requests outstanding) and a slow DC, so that most of the body is
    # still to be requested when the fault lands.
    server = new_server(
        server_factory,
        emulator,
        tmp_path,
        f"fault-{fault}",
        CACHE_SIZE_MB="0",
        CONNECTIONS_PER_DC="2",
    )
    emulator.faults(dcs={"4": {"bandwidth_bps": 4_000_000}})
    reached = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(_download_during, server.link(message_id), reached)
        assert reached.wait(60)
        if fault == "reference":
            emulator.faults(rotate_file_references=True)
        elif fault == "drop":
            emulator.faults(dcs={"4": {"drop_after_bytes": 1_500_000}})
            time.sleep(0.5)
            emulator.faults(dcs={"4": {"drop_after_bytes": None}})
        else:
            emulator.faults(
                flood_waits=[{"method": "upload.getFile", "dc": 4, "seconds": 2, "count": 1}]
            )
        body = future.result(timeout=120)
    assert sha(body) == sha(data)
    counters = emulator.dc_stats(4)
    if fault == "reference":
        assert counters["file_reference_expired"] >= 1
    elif fault == "flood":
        assert counters["flood_waits"] == 1


def test_long_flood_wait_gives_503_with_one_bot_and_failover_with_two(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data = os.urandom(2 * MiB)
    message_id = emulator.post_to_channel(data, dc=4)["message_id"]
    one = new_server(server_factory, emulator, tmp_path, "one-bot", CACHE_SIZE_MB="0")
    emulator.faults(flood_waits=[{"method": "upload.getFile", "seconds": 600, "count": None}])
    response = httpx.get(one.link(message_id), timeout=60)
    assert response.status_code == 503
    assert 1 <= int(response.headers["retry-after"]) <= 600
    one.stop()

    emulator.reset()
    # One 600 s wait, for whichever bot asks first: the other bot must take over.
    emulator.faults(flood_waits=[{"method": "upload.getFile", "seconds": 600, "count": 1}])
    two = new_server(
        server_factory,
        emulator,
        tmp_path,
        "two-bots",
        CACHE_SIZE_MB="0",
        MULTI_TOKEN1=emulator.config["bot_tokens"][1],
    )
    response = httpx.get(two.link(message_id), timeout=60)
    assert response.status_code == 200 and sha(response.content) == sha(data)
    assert emulator.dc_stats(4)["flood_waits"] == 1
    assert two.status()["flood"]["failovers"] == 1


def test_viewer_who_leaves_stops_every_upstream_request(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data = os.urandom(40 * MiB)
    message_id = emulator.post_to_channel(data, dc=4)["message_id"]
    server = new_server(server_factory, emulator, tmp_path, "leaver", CACHE_SIZE_MB="0")
    emulator.faults(dcs={"4": {"bandwidth_bps": 4_000_000}})
    with httpx.stream("GET", server.link(message_id), timeout=60) as response:
        received = 0
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received > 3 * MiB:
                break
    time.sleep(2.0)
    before = emulator.dc_stats(4)["getfile_requests"]
    time.sleep(2.0)
    assert emulator.dc_stats(4)["getfile_requests"] == before
    status = server.status()
    assert status["upstream_inflight"] == 0 and status["active_streams"] == 0


def test_missing_bot_token_exits_2_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN",)}
    env.update({"API_ID": "1", "API_HASH": "0" * 32, "BIN_CHANNEL": "-1001"})
    result = subprocess.run(
        [sys.executable, "-m", "tgstream", "serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "BOT_TOKEN" in lines[0] and "Traceback" not in result.stderr
    assert ROOT.exists()
