"""How fast the emulator itself serves upload.getFile, unshaped, to several Kurigram clients:
the ceiling under every figure the bench measures on it.

The emulator runs as its own process; the bench process runs N stock Kurigram bot clients,
each reading the same file over its media session with K requests in flight, and checks the
bytes.  Run with `tgstream bench --emulator-throughput [--size-mib 64] [--clients 8]`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path
from typing import Any

from pyrogram import raw
from pyrogram.file_id import FileId

from tgemu.launch import EmulatorProcess, Options, free_port

from .contenders.common import document_location, make_client

MiB = 1 << 20
DC = 2


async def read_file(client: Any, file_id: str, size: int, in_flight: int) -> bytes:
    """`size` bytes of the file, 1 MiB parts, `in_flight` requests at a time."""
    location = document_location(file_id)
    session = await client.get_session(FileId.decode(file_id).dc_id, is_media=True)
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
            parts[offset] = bytes(result.bytes)

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return b"".join(parts[o] for o in offsets)


async def measure(
    emu: EmulatorProcess, base: Path, size_mib: int, clients: int, say: Any
) -> list[dict[str, float]]:
    """MB/s for a few (clients, in flight) pairs; RuntimeError on wrong bytes."""
    data = os.urandom(size_mib * MiB)
    digest = hashlib.sha256(data).digest()
    file_id = emu.control.upload(data, DC, "throughput.bin")["file_id"]
    pairs = list(dict.fromkeys([(1, 1), (1, 4), (2, 4), (clients, 2), (clients, 4)]))
    workers = []
    try:
        for index in range(clients):
            sessions = base / f"client{index}"
            sessions.mkdir(parents=True, exist_ok=True)
            client = make_client("bench", emu.server_env(sessions, free_port()))
            await client.start()
            workers.append(client)
            await read_file(client, file_id, MiB, 1)  # its media session, made before timing
        say(f"{clients} clients signed in; reading {size_mib} MiB from DC {DC} ...")
        rows = []
        for n, k in pairs:
            started = time.perf_counter()
            results = await asyncio.gather(
                *(read_file(c, file_id, len(data), k) for c in workers[:n])
            )
            elapsed = time.perf_counter() - started
            if not all(hashlib.sha256(r).digest() == digest for r in results):
                raise RuntimeError("the emulator served wrong bytes")
            rate = n * len(data) / elapsed / 1e6
            rows.append({"clients": n, "in_flight": k, "mb_s": rate, "seconds": elapsed})
    finally:
        for client in workers:
            await client.stop()
    return rows


def table(rows: list[dict[str, float]], size_mib: int) -> str:
    lines = [
        f"file {size_mib} MiB on DC {DC}, emulator unshaped, clients in one process",
        f"{'clients':>8} {'in flight':>10} {'MB/s':>8} {'seconds':>8}",
    ]
    for row in rows:
        lines.append(
            f"{row['clients']:>8.0f} {row['in_flight']:>10.0f} {row['mb_s']:>8.1f} "
            f"{row['seconds']:>8.2f}"
        )
    return "\n".join(lines)


def run(base: Path, size_mib: int, clients: int, say: Any) -> list[dict[str, float]]:
    emu = EmulatorProcess(
        base / "emulator", base / "emulator.log", options=Options(new_session=True)
    )
    try:
        emu.start()
        return asyncio.run(measure(emu, base, size_mib, clients, say))
    finally:
        emu.stop()
