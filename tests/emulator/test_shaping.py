"""Network shaping and faults, seen from a stock client: latency, bandwidth, a DC that is down."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

from pyrogram import raw

from tests.support.kurigram import document_location, make_client
from tests.support.processes import EmulatorProcess

MiB = 1 << 20


async def test_latency_bandwidth_and_account_cap(emu: EmulatorProcess, workdir: Path) -> None:
    data = os.urandom(4 * MiB)
    file_id = emu.upload(data, dc=2)["file_id"]
    async with make_client(emu.config, "bot", workdir) as client:
        await client.get_me()
        emu.faults(dcs={"2": {"latency_ms": 300}})
        started = time.monotonic()
        await client.invoke(raw.functions.help.GetNearestDc())
        assert time.monotonic() - started >= 0.3

        emu.faults(dcs={"2": {"latency_ms": 0, "bandwidth_bps": 2_000_000}})
        started = time.monotonic()
        got = await client.download_media(file_id, in_memory=True)
        elapsed = time.monotonic() - started
        assert bytes(got.getbuffer()) == data
        # Every byte is serialised at the rate: no allowance banked while the line was idle.
        assert elapsed >= 4 * MiB / 2_000_000

        emu.faults(dcs={"2": {"bandwidth_bps": None}}, account_bandwidth_bps=4_000_000)
        started = time.monotonic()
        await client.download_media(file_id, in_memory=True)
        assert time.monotonic() - started >= 4 * MiB / 4_000_000


PARTS = 4


async def shaped_reads(emu: EmulatorProcess, workdir: Path, together: bool) -> float:
    """Seconds to read PARTS 1 MiB parts from DC 4 at 80 ms and 8 MB/s over one media
    connection, one after another or all asked at once; the bytes checked on the way."""
    data = os.urandom(PARTS * MiB)
    location = document_location(emu.upload(data, dc=4)["file_id"])

    def part(index: int) -> raw.functions.upload.GetFile:
        return raw.functions.upload.GetFile(location=location, offset=index * MiB, limit=MiB)

    async with make_client(emu.config, "bot", workdir) as client:
        media = await client.get_session(4, is_media=True)
        emu.faults(dcs={"4": {"latency_ms": 80, "bandwidth_bps": 8_000_000}})
        started = time.monotonic()
        if together:
            answers = await asyncio.gather(*(media.invoke(part(i)) for i in range(PARTS)))
        else:
            answers = [await media.invoke(part(i)) for i in range(PARTS)]
        elapsed = time.monotonic() - started
    assert b"".join(answer.bytes for answer in answers) == data
    return elapsed


async def test_one_request_in_flight_pays_the_round_trip_and_the_transfer(
    emu: EmulatorProcess, workdir: Path
) -> None:
    """1 MiB parts one at a time at 80 ms and 8 MB/s: 80 ms + 131 ms each, about 5 MB/s (a
    real link's arithmetic); the allowance that filled during the latency gave 8 MB/s."""
    elapsed = await shaped_reads(emu, workdir, together=False)
    assert elapsed >= PARTS * (0.080 + MiB / 8_000_000)


async def test_replies_in_flight_together_queue_on_the_connection(
    emu: EmulatorProcess, workdir: Path
) -> None:
    """Four parts asked at once on one connection arrive one transfer apart: together they
    take one round trip plus four transfers, not one round trip plus one."""
    elapsed = await shaped_reads(emu, workdir, together=True)
    assert elapsed >= 0.080 + PARTS * MiB / 8_000_000


def test_a_dc_that_is_down_refuses_connections(emu: EmulatorProcess) -> None:
    host, port = emu.dc_address(5)
    socket.create_connection((host, port), timeout=2).close()
    emu.faults(dcs={"5": {"down": True}})
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        pass
    else:
        raise AssertionError("DC 5 accepted a connection while down")
    emu.faults(dcs={"5": {"down": False}})
    socket.create_connection((host, port), timeout=2).close()
    assert emu.stats()["dcs"]["5"]["connections"] >= 2
