"""How fast the emulator serves upload.getFile, unshaped, to several Kurigram clients.

The emulator runs as its own process; this process runs N stock Kurigram clients, each
reading the same 64 MiB file over its media session with K requests in flight.  The table
shows MB/s for a few (N, K) pairs.  Not a test: run it with
`python -m benchmarks.emulator_throughput [--size-mib 64] [--clients 4]`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from pyrogram import raw
from pyrogram.file_id import FileId

from tests.support.kurigram import document_location, make_client
from tests.support.processes import EmulatorProcess

MiB = 1 << 20


async def read_file(client: Any, file_id: str, size: int, in_flight: int) -> bytes:
    decoded = FileId.decode(file_id)
    location = document_location(file_id)
    session = await client.get_session(decoded.dc_id, is_media=True)
    parts: dict[int, bytes] = {}
    offsets = list(range(0, size, MiB))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for offset in offsets:
        queue.put_nowait(offset)

    async def worker() -> None:
        while not queue.empty():
            offset = queue.get_nowait()
            result = await session.invoke(
                raw.functions.upload.GetFile(location=location, offset=offset, limit=MiB)
            )
            parts[offset] = result.bytes

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return b"".join(parts[o] for o in offsets)


async def run(size_mib: int, clients: int, pairs: list[tuple[int, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        emu = EmulatorProcess(base / "state", base / "emulator.log", bots=1).start()
        try:
            data = os.urandom(size_mib * MiB)
            digest = hashlib.sha256(data).hexdigest()
            uploaded = emu.upload(data, dc=2, name="bench.bin")
            workers = []
            for index in range(clients):
                workdir = base / f"client{index}"
                workdir.mkdir()
                client = make_client(emu.config, "bench", workdir)
                await client.start()
                await read_file(client, uploaded["file_id"], MiB, 1)  # warm the media session
                workers.append(client)
            print(f"file {size_mib} MiB on DC 2, emulator unshaped, clients in one process")
            print(f"{'clients':>8} {'in flight':>10} {'MB/s':>8} {'seconds':>8}")
            for n, k in pairs:
                start = time.perf_counter()
                results = await asyncio.gather(
                    *(read_file(c, uploaded["file_id"], len(data), k) for c in workers[:n])
                )
                elapsed = time.perf_counter() - start
                assert all(hashlib.sha256(r).hexdigest() == digest for r in results)
                rate = n * len(data) / elapsed / 1e6
                print(f"{n:>8} {k:>10} {rate:>8.1f} {elapsed:>8.2f}")
            for client in workers:
                await client.stop()
        finally:
            emu.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    pairs = [(1, 1), (1, 4), (2, 4), (args.clients, 2), (args.clients, 4)]
    asyncio.run(run(args.size_mib, args.clients, pairs))


if __name__ == "__main__":
    main()
