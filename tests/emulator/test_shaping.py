"""Network shaping and faults, seen from a stock client: latency, bandwidth, a DC that is down."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from pyrogram import raw

from tests.support.kurigram import make_client
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
        # 4 MiB at 2 MB/s with a quarter-second burst allowance.
        assert elapsed >= 4 * MiB / 2_000_000 - 0.3

        emu.faults(dcs={"2": {"bandwidth_bps": None}}, account_bandwidth_bps=4_000_000)
        started = time.monotonic()
        await client.download_media(file_id, in_memory=True)
        assert time.monotonic() - started >= 4 * MiB / 4_000_000 - 0.3


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
