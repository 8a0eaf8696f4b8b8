"""Parts checked against Telegram's own SHA-256 (upload.getFileHashes): a getFile answer the
emulator damages (corrupt_getfile) is fetched again and never reaches the viewer; with
VERIFY_PARTS=0 it does (so this test can see damage at all); a file damaged on every answer
ends in a clear 502 before the headers or a cut connection after them, never a clean body.
The file lives on DC 4, not the bot's home DC, as most files do."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
from pyrogram.file_id import FileId

from tests.e2e.conftest import new_server
from tests.support.processes import EmulatorProcess, ServerProcess
from tests.support.transfers import assert_exact_or_aborted, read_while, sha
from tgstream.streaming.plan import plan_parts

pytestmark = pytest.mark.timeout(240)

MiB = 1 << 20
FILE_DC = 4
SIZE = 5 * MiB + 4321
# No part cache: every byte a request gets comes from Telegram while the fault is live.
NO_CACHE = {"CACHE_SIZE_MB": "0"}


def post(emu: EmulatorProcess, size: int) -> tuple[bytes, int, int]:
    """A new file in the bin channel: its bytes, message id and media (document) id."""
    data = os.urandom(size)
    posted = emu.post_to_channel(data, dc=FILE_DC, name="film.mkv", mime_type="video/x-matroska")
    return data, posted["message_id"], FileId.decode(posted["file_id"]).media_id


def mismatches(server: ServerProcess) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    for line in text.splitlines():
        if line.startswith("tgstream_part_mismatches_total "):
            return float(line.split()[1])
    raise AssertionError("tgstream_part_mismatches_total is not on /metrics")


def warm(server: ServerProcess, message_id: int, data: bytes) -> None:
    """DC 4's key and import made, the file resolved, before any counter is read."""
    response = httpx.get(server.link(message_id), headers={"Range": "bytes=0-999"}, timeout=90)
    assert response.status_code == 206 and response.content == data[:1000]


def test_a_damaged_answer_is_fetched_again_and_never_served(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data, message_id, media_id = post(emulator, SIZE)
    server = new_server(server_factory, emulator, tmp_path, "verify", VERIFY_PARTS="1", **NO_CACHE)
    warm(server, message_id, data)
    emulator.reset()
    emulator.control.corrupt_getfile(count=2, dc=FILE_DC, file_id=media_id)
    response = httpx.get(server.link(message_id), timeout=90)
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == SIZE
    assert sha(response.content) == sha(data)
    counters = emulator.dc_stats(FILE_DC)
    assert counters["getfile_corrupted"] == 2
    # Every part once, and the two damaged ones once more.
    parts = plan_parts(0, SIZE - 1, SIZE, first_part_size=128 * 1024)
    assert counters["getfile_requests"] == len(parts) + 2
    # One getFileHashes per 1 MiB of file (eight 128 KiB ranges each), at most: the first
    # megabyte's hashes were learned while warming up.
    assert 1 <= counters["getfile_hashes_requests"] <= SIZE // MiB + 1
    assert mismatches(server) == 2
    assert "a part failed its hash check" in server.logs()


def test_with_verification_off_the_damage_reaches_the_viewer(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data, message_id, media_id = post(emulator, SIZE)
    server = new_server(
        server_factory, emulator, tmp_path, "unverified", VERIFY_PARTS="0", **NO_CACHE
    )
    warm(server, message_id, data)
    emulator.reset()
    emulator.control.corrupt_getfile(count=1, dc=FILE_DC, file_id=media_id)
    response = httpx.get(server.link(message_id), timeout=90)
    assert response.status_code == 200
    body = response.content
    assert len(body) == SIZE and sha(body) != sha(data)
    assert sum(a != b for a, b in zip(body, data, strict=True)) == 3
    counters = emulator.dc_stats(FILE_DC)
    assert counters["getfile_corrupted"] == 1
    assert counters["getfile_hashes_requests"] == 0
    assert mismatches(server) == 0


def test_a_file_damaged_on_every_answer_is_a_502_before_the_headers(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data, message_id, media_id = post(emulator, SIZE)
    server = new_server(server_factory, emulator, tmp_path, "broken", VERIFY_PARTS="1", **NO_CACHE)
    warm(server, message_id, data)
    emulator.control.corrupt_getfile(count=None, dc=FILE_DC, file_id=media_id)
    response = httpx.get(
        server.link(message_id),
        headers={"Range": f"bytes={2 * MiB}-", "Accept": "application/json"},
        timeout=90,
    )
    assert response.status_code == 502, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "error" in response.json() or "detail" in response.json()
    assert mismatches(server) == 3
    assert emulator.dc_stats(FILE_DC)["getfile_corrupted"] >= 3
    # The damage is the file's, not the server's: it goes on serving others.
    other, other_id, _ = post(emulator, MiB + 17)
    again = httpx.get(server.link(other_id), timeout=90)
    assert again.status_code == 200 and sha(again.content) == sha(other)


def test_a_file_damaged_mid_body_cuts_the_connection(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    size = 24 * MiB + 99
    data, message_id, media_id = post(emulator, size)
    # One connection, two parts ahead, a paced DC: the body is still coming when the fault
    # lands, and the parts after it are all damaged.
    server = new_server(
        server_factory,
        emulator,
        tmp_path,
        "cut",
        VERIFY_PARTS="1",
        CONNECTIONS_PER_DC="1",
        PARTS_IN_FLIGHT="2",
        **NO_CACHE,
    )
    warm(server, message_id, data)
    emulator.faults(dcs={str(FILE_DC): {"bandwidth_bps": 6_000_000}})

    def damage_everything() -> None:
        emulator.control.corrupt_getfile(count=None, dc=FILE_DC, file_id=media_id)

    started = time.monotonic()
    outcome = read_while(server.link(message_id), 2 * MiB, damage_everything)
    assert 0 <= outcome.received_when_acted < size, "the fault landed after the body"
    assert_exact_or_aborted(outcome, data, 200)
    assert outcome.aborted_with is not None, "a damaged file was served whole"
    assert outcome.received < size
    assert mismatches(server) >= 3
    assert time.monotonic() - started < 120
