"""The disk tier against Telegram: one tgstream server with no RAM cache streams a file cold
(every byte from the emulated Telegram), is restarted, and streams it again from CACHE_DIR;
MB/s side by side, with the getFile requests the second stream made (none, if the tier
works) and whether every byte was right."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from tgemu.launch import EmulatorProcess

from . import load
from .lineup import Server, lineup
from .scenarios import DC, MiB

TARGET = 5.0  # from disk at least this many times the emulated Telegram ceiling
# Streams timed from disk, the median reported: one 64 MiB stream lasts a fifth of a
# second there, and one scheduling hiccup on a shared machine moves it by a tenth.
DISK_READS = 3


def _getfile_requests(emu: EmulatorProcess) -> int:
    return sum(int(dc["getfile_requests"]) for dc in emu.control.stats()["dcs"].values())


def _written(server: Server, size: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = httpx.get(f"{server.url}/status", timeout=10).json()["disk_cache"]
        if seen["written_bytes"] >= size:
            return
        time.sleep(0.2)
    raise RuntimeError("the disk tier did not write the file in time")


async def _stream(url: str, data: bytes, reads: int = 1) -> list[load.Fetch]:
    async with load.client() as http:
        await load.fetch(http, url, data, read=1)  # the file resolved, the DC warm
        return [await load.fetch(http, url, data, check_after=True) for _ in range(reads)]


def run(
    emu: EmulatorProcess, mib: int, ceiling_mb_s: float, base: Path, say: Any
) -> dict[str, Any]:
    say(f"disk tier: {mib} MiB cold from Telegram, then from disk after a restart ...")
    data = bytes(range(256)) * (mib * MiB // 256)
    message_id = emu.post_to_channel(data, DC, "disk.bin")["message_id"]
    tgstream = next(c for c in lineup() if c.name == "tgstream")
    contender = replace(
        tgstream,
        name="tgstream-disk",
        env={
            "CACHE_SIZE_MB": "0",
            "CACHE_DISK_MB": str(mib * 2 + 64),
            "CACHE_DIR": str(base / "disk-cache"),
        },
    )
    server = Server(contender, emu, base / "disk")
    server.start()
    try:
        url = server.link(message_id)
        # One stream: a second would find the parts on disk already.
        (cold,) = asyncio.run(_stream(url, data))
        _written(server, len(data))
        server.stop()
        server.start()
        before = _getfile_requests(emu)
        warm = asyncio.run(_stream(url, data, DISK_READS))
        getfile = _getfile_requests(emu) - before
    finally:
        server.stop()

    def mb_s(got: load.Fetch) -> float:
        return len(data) / got.seconds / 1e6 if got.error is None else 0.0

    fetches = [cold, *warm]
    return {
        "mib": mib,
        "telegram_mb_s": mb_s(cold),
        "disk_mb_s": statistics.median(mb_s(f) for f in warm),
        "disk_runs_mb_s": [mb_s(f) for f in warm],
        "ceiling_mb_s": ceiling_mb_s,
        "getfile_after_restart": getfile,
        "bytes_correct": all(f.error is None for f in fetches),
        "errors": [f.error for f in fetches if f.error],
    }


def table(row: dict[str, Any]) -> str:
    ratio = row["disk_mb_s"] / row["ceiling_mb_s"]
    runs = row.get("disk_runs_mb_s", [row["disk_mb_s"]])
    verdict = "met" if ratio >= TARGET else "NOT met"
    return "\n".join(
        [
            f"disk tier, {row['mib']} MiB, RAM cache 0, restarted between the two streams:",
            f"  from Telegram (cold)   {row['telegram_mb_s']:8.1f} MB/s",
            f"  from disk (restarted)  {row['disk_mb_s']:8.1f} MB/s"
            f"   {ratio:.1f}x the emulated ceiling of {row['ceiling_mb_s']:.0f} MB/s"
            f" (target {TARGET:.0f}x: {verdict})",
            f"    median of {len(runs)} streams: {', '.join(f'{r:.1f}' for r in runs)} MB/s",
            f"  getFile requests after the restart: {row['getfile_after_restart']};"
            f" bytes correct: {'yes' if row['bytes_correct'] else 'NO'}",
        ]
    )
