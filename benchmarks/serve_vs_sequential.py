"""tgstream serve against a plain sequential 1 MiB reader, on a shaped emulator DC.

DC 4 gets 80 ms RTT and 8 MB/s per connection; one 64 MiB file lives there.  Prints the
single-stream MB/s and the time to first byte of 20 open-ended seeks for both.  Run with
`python -m benchmarks.serve_vs_sequential`.  (`tgstream bench` is the full comparison.)
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from pyrogram import raw

from tests.support.kurigram import document_location, make_client
from tests.support.processes import EmulatorProcess, ServerProcess

MiB = 1 << 20


async def sequential(
    emu: EmulatorProcess, workdir: Path, file_id: str, size: int
) -> tuple[float, list[float]]:
    location = document_location(file_id)
    async with make_client(emu.config, "seq", workdir) as client:
        session = await client.get_session(4, is_media=True)

        async def part(offset: int) -> bytes:
            r = await session.invoke(
                raw.functions.upload.GetFile(location=location, offset=offset, limit=MiB)
            )
            return bytes(r.bytes)

        await part(0)
        started = time.perf_counter()
        digest = hashlib.sha256()
        for offset in range(0, size, MiB):
            digest.update(await part(offset))
        rate = size / (time.perf_counter() - started) / 1e6
        ttfbs = []
        for index in range(20):
            offset = (index * 7_919_999) % (size - MiB) // MiB * MiB
            started = time.perf_counter()
            await part(offset)
            ttfbs.append(time.perf_counter() - started)
    return rate, ttfbs


def served(server: ServerProcess, message_id: int, size: int) -> tuple[float, list[float]]:
    url = server.link(message_id)
    httpx.get(url, headers={"Range": "bytes=0-0"}, timeout=60)
    started = time.perf_counter()
    with httpx.stream("GET", url, timeout=120) as response:
        total = sum(len(c) for c in response.iter_bytes())
    assert total == size
    rate = size / (time.perf_counter() - started) / 1e6
    ttfbs = []
    with httpx.Client(timeout=60) as http:
        for index in range(20):
            offset = (index * 7_919_999 + 12_345) % (size - MiB)
            started = time.perf_counter()
            with http.stream("GET", url, headers={"Range": f"bytes={offset}-"}) as response:
                next(response.iter_raw(1))
                ttfbs.append(time.perf_counter() - started)
    return rate, ttfbs


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        emu = EmulatorProcess(base / "state", base / "emu.log").start()
        try:
            size = 64 * MiB
            data = os.urandom(size)
            posted = emu.post_to_channel(data, dc=4, name="bench.bin")
            file_id = posted["file_id"]
            emu.faults(dcs={"4": {"latency_ms": 80, "bandwidth_bps": 8_000_000}})
            (base / "seq").mkdir()
            seq_rate, seq_ttfb = asyncio.run(sequential(emu, base / "seq", file_id, size))
            (base / "srv").mkdir()
            server = ServerProcess(
                emu, base / "srv", base / "srv.log", {"CACHE_SIZE_MB": "0"}
            ).start()
            try:
                srv_rate, srv_ttfb = served(server, posted["message_id"], size)
            finally:
                server.stop()
        finally:
            emu.stop()
    print("DC 4: 80 ms RTT, 8 MB/s per connection; 64 MiB file")
    print(f"{'':24}{'MB/s':>8}{'seek TTFB p50':>16}{'p95':>8}")
    for name, rate, ttfb in (
        ("sequential 1 MiB reader", seq_rate, seq_ttfb),
        ("tgstream serve", srv_rate, srv_ttfb),
    ):
        q = statistics.quantiles(ttfb, n=20)
        print(
            f"{name:24}{rate:8.1f}{statistics.median(ttfb) * 1000:13.0f} ms{q[18] * 1000:5.0f} ms"
        )


if __name__ == "__main__":
    main()
