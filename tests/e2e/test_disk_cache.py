"""The disk tier on real servers: a 64 MiB file streamed, the server restarted, streamed
again without one getFile; a second server on the same CACHE_DIR served from it too; a part
damaged on disk refetched, exact, and counted; a CACHE_DIR that cannot exist leaves the
server serving, with one log line."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import new_server
from tests.support.processes import EmulatorProcess, ServerProcess
from tests.support.transfers import sha

MiB = 1 << 20
FILE_DC = 4


@dataclass
class Source:
    data: bytes
    message_id: int


def post(emu: EmulatorProcess, size: int, name: str) -> Source:
    data = os.urandom(size)
    return Source(data, emu.post_to_channel(data, dc=FILE_DC, name=name)["message_id"])


@pytest.fixture(scope="module")
def film(emulator: EmulatorProcess) -> Source:
    return post(emulator, 64 * MiB + 12_345, "film.mkv")


def getfile_requests(emu: EmulatorProcess) -> int:
    return sum(int(dc["getfile_requests"]) for dc in emu.stats()["dcs"].values())


def disk(server: ServerProcess) -> dict[str, Any]:
    result: dict[str, Any] = server.status()["disk_cache"]
    return result


def written(server: ServerProcess, size: int, timeout: float = 60.0) -> dict[str, Any]:
    """The disk tier's numbers once `size` bytes are on disk (writes finish after the
    viewer has its bytes)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = disk(server)
        if seen["written_bytes"] >= size or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def download(server: ServerProcess, source: Source) -> bytes:
    response = httpx.get(server.link(source.message_id), timeout=120)
    assert response.status_code == 200
    return response.content


def test_a_restart_streams_from_disk_without_telegram(
    emu: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path, film: Source
) -> None:
    cache_dir = tmp_path / "parts"
    env = {"CACHE_DIR": str(cache_dir), "CACHE_DISK_MB": "256"}
    server = new_server(server_factory, emu, tmp_path, "first", **env)
    assert sha(download(server, film)) == sha(film.data)
    assert getfile_requests(emu) > 0
    seen = written(server, len(film.data))
    assert seen["state"] == "on" and seen["dir"] == str(cache_dir)
    assert seen["written_bytes"] == len(film.data)

    server.stop()
    emu.reset()
    server.start()
    assert sha(download(server, film)) == sha(film.data)
    assert getfile_requests(emu) == 0
    seen = disk(server)
    assert seen["read_bytes"] == len(film.data) and seen["misses"] == 0

    # A replica on the same host, its own SESSION_DIR, the same CACHE_DIR.
    other = new_server(server_factory, emu, tmp_path, "second", **env)
    assert sha(download(other, film)) == sha(film.data)
    assert getfile_requests(emu) == 0


def test_a_part_damaged_on_disk_is_refetched_and_counted(
    emu: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    source = post(emu, 6 * MiB + 99, "damaged.bin")
    cache_dir = tmp_path / "parts"
    server = new_server(
        server_factory,
        emu,
        tmp_path,
        CACHE_DIR=str(cache_dir),
        CACHE_DISK_MB="64",
        CACHE_SIZE_MB="0",
    )
    assert sha(download(server, source)) == sha(source.data)
    written(server, len(source.data))
    victim = max(cache_dir.rglob("*.val"), key=lambda p: p.stat().st_size)
    with victim.open("r+b") as handle:
        handle.seek(4096)
        byte = handle.read(1)
        handle.seek(4096)
        handle.write(bytes([byte[0] ^ 0x5A]))

    before = getfile_requests(emu)
    assert sha(download(server, source)) == sha(source.data)
    assert getfile_requests(emu) == before + 1
    assert disk(server)["corrupt"] == 1
    metrics = httpx.get(f"{server.url}/metrics").text
    assert "tgstream_disk_cache_corrupt_total 1.0" in metrics


def test_a_cache_dir_that_cannot_exist_leaves_the_server_serving(
    emu: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    source = post(emu, 3 * MiB, "plain.bin")
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"a file, not a folder")
    server = new_server(
        server_factory, emu, tmp_path, CACHE_DIR=str(blocker / "cache"), CACHE_DISK_MB="64"
    )
    for _ in range(2):
        assert sha(download(server, source)) == sha(source.data)
    assert disk(server)["state"] == "degraded"
    assert server.logs().count("disk cache off") == 1
