"""The scenarios (one per player trace among them), run against one contender's server, with
the emulator's counters and the server's RSS and CPU taken around each."""

from __future__ import annotations

import asyncio
import functools
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tgemu.launch import EmulatorProcess

from . import load, trace_replay
from .lineup import Server
from .meter import Meter
from .stats import percentile
from .trace import Trace, committed, cut, figures

MiB = 1 << 20
DC = 4


@dataclass(frozen=True)
class Workload:
    single_mib: int = 64
    seek_file_mib: int = 200
    seeks: int = 20
    seek_read_kib: int = 256
    crowd: int = 20
    crowd_file_mib: int = 2  # each viewer of the "different files" crowd reads one of these
    shared_file_mib: int = 2  # the one file the other crowd watches
    crowd_bound_s: float = 60.0  # a viewer not done by then counts as an error
    # Scenario 5 (tgbench/replicas.py): N replicas behind HAProxy, each viewer one file.
    replica_counts: tuple[int, ...] = (1, 3)
    replica_viewers: int = 20
    replica_file_mib: int = 16
    # The player traces (tgbench/traces): how many of each one's requests, at what speed.
    trace_requests: int | None = None
    trace_speed: float = 1.0


FULL = Workload()
QUICK = Workload(
    single_mib=8,
    seek_file_mib=16,
    seeks=5,
    crowd=5,
    crowd_file_mib=1,
    shared_file_mib=2,
    replica_file_mib=1,
    trace_requests=3,
    trace_speed=4.0,
)


@dataclass
class File:
    message_id: int
    data: bytes


class Files:
    """The same files for every contender, posted once to the bin channel on DC 4."""

    def __init__(self, emu: EmulatorProcess, work: Workload) -> None:
        def post(name: str, mib: int) -> File:
            data = os.urandom(mib * MiB)
            return File(emu.post_to_channel(data, DC, name)["message_id"], data)

        self.single = post("single.bin", work.single_mib)
        self.seek = post("seek.bin", work.seek_file_mib)
        self.crowd = [post(f"crowd-{i}.bin", work.crowd_file_mib) for i in range(work.crowd)]
        self.shared = post("shared.bin", work.shared_file_mib)
        # Each player's film as random bytes of its size: what a server does depends on where
        # and how much is asked, not on what the bytes are.
        self.traces: dict[str, tuple[Trace, File]] = {}
        for trace in TRACES:
            data = os.urandom(trace.file_bytes)
            posted = emu.post_to_channel(data, DC, f"{trace.name}.mp4")
            self.traces[trace.name] = (
                cut(trace, work.trace_requests, work.trace_speed),
                File(posted["message_id"], data),
            )


Scenario = Callable[[], Awaitable[dict[str, Any]]]


class Runner:
    def __init__(
        self, emu: EmulatorProcess, server: Server, files: Files, work: Workload, seed: int
    ) -> None:
        self.emu = emu
        self.server = server
        self.files = files
        self.work = work
        self.seed = seed

    async def measured(self, scenario: Scenario, prepare: Scenario | None = None) -> dict[str, Any]:
        """Run `scenario` between two readings of the emulator's counters and of the server's
        RSS and CPU; `prepare` runs inside the counters' window but outside the server's."""
        self.emu.control.reset_stats()
        prepared = await prepare() if prepare is not None else {}
        meter = Meter(self.server.pid)
        result = await scenario()
        result["errors"] += prepared.pop("errors", 0)
        result["error_kinds"] = prepared.pop("error_kinds", []) + result["error_kinds"]
        result.update(prepared)
        # Let cancelled prefetches settle so their bytes are counted against this scenario.
        await asyncio.sleep(0.3)
        result.update(meter.finish())
        dcs = self.emu.control.stats()["dcs"].values()
        totals = {k: sum(int(d[k]) for d in dcs) for k in next(iter(dcs)) if k != "dc"}
        served = result["served_bytes"]
        result.update(
            file_migrate=totals["file_migrate_errors"],
            auth_keys=totals["auth_keys_created"],
            imports=totals["auth_imports"],
            sign_ins=totals["bot_signins"],
            getfile_requests=totals["getfile_requests"],
            upstream_bytes=totals["getfile_bytes"],
            upstream_per_served=totals["getfile_bytes"] / served if served else None,
            cpu_s_per_gb=result["cpu_s"] / (served / 1e9) if served else None,
        )
        return result

    def url(self, message_id: int) -> str:
        return self.server.link(message_id)

    async def warm_up(self) -> dict[str, Any]:
        """The fresh server's first request: it pays for keys, imports and the file lookup,
        which the emulator's counters show, but neither the timing nor the CPU figures."""
        file = self.files.single
        async with load.client() as http:
            got = await load.fetch(http, self.url(file.message_id), file.data, read=1)
        return {
            "cold_ttfb_ms": got.ttfb * 1000 if got.ttfb is not None else None,
            "errors": int(got.error is not None),
            "error_kinds": [got.error] if got.error else [],
        }

    async def restart_server(self) -> dict[str, Any]:
        """Stop the server and start it again on the same session directory."""
        self.server.stop()
        self.server.start()
        return {}

    async def single(self) -> dict[str, Any]:
        file = self.files.single
        async with load.client() as http:
            got = await load.fetch(http, self.url(file.message_id), file.data)
        return {
            "mb_s": len(file.data) / got.seconds / 1e6 if got.error is None else 0.0,
            "errors": int(got.error is not None),
            "error_kinds": [got.error] if got.error else [],
            "served_bytes": got.received,
        }

    async def seeks(self) -> dict[str, Any]:
        file = self.files.seek
        read = self.work.seek_read_kib * 1024
        rng = random.Random(self.seed)
        offsets = [rng.randrange(1, len(file.data) - read) for _ in range(self.work.seeks)]
        url = self.url(file.message_id)
        results = []
        async with load.client() as http:
            await load.fetch(http, url, file.data, read=1)  # the file's DC is warm already
            for offset in offsets:
                results.append(await load.fetch(http, url, file.data, first=offset, read=read))
        ttfbs = [r.ttfb * 1000 for r in results if r.ttfb is not None]
        return {
            "ttfb_p50_ms": percentile(ttfbs, 50),
            "ttfb_p95_ms": percentile(ttfbs, 95),
            "errors": sum(r.error is not None for r in results),
            "error_kinds": sorted({r.error for r in results if r.error}),
            "served_bytes": sum(r.received for r in results),
        }

    async def trace(self, name: str) -> dict[str, Any]:
        """A player's recorded seeks replayed: the server is warm (the single stream ran)."""
        trace, file = self.files.traces[name]
        outcomes = await trace_replay.replay(self.url(file.message_id), file.data, trace)
        return figures(trace, outcomes)

    async def crowd(self, files: list[File]) -> dict[str, Any]:
        async with load.client(len(files)) as http:
            deadline = asyncio.get_running_loop().time() + self.work.crowd_bound_s
            started = time.perf_counter()
            results = await asyncio.gather(
                *(
                    load.fetch(http, self.url(f.message_id), f.data, deadline=deadline)
                    for f in files
                )
            )
            wall = time.perf_counter() - started
        served = sum(r.received for r in results)
        unique = sum(len(f.data) for f in {id(f): f for f in files}.values())
        # A viewer who never got a byte waited at least the whole bound.
        bound_ms = self.work.crowd_bound_s * 1000
        ttfbs = [r.ttfb * 1000 if r.ttfb is not None else bound_ms for r in results]
        return {
            "mb_s": served / wall / 1e6,
            "ttfb_p95_ms": percentile(ttfbs, 95),
            "errors": sum(r.error is not None for r in results),
            "error_kinds": sorted({r.error for r in results if r.error}),
            "served_bytes": served,
            "unique_bytes": unique,
        }

    async def crowd_many(self) -> dict[str, Any]:
        return await self.crowd(self.files.crowd)

    async def crowd_one(self) -> dict[str, Any]:
        result = await self.crowd([self.files.shared] * self.work.crowd)
        return result

    async def restart(self) -> dict[str, Any]:
        """The first request after a restart on the same session directory."""
        file = self.files.single
        async with load.client() as http:
            got = await load.fetch(http, self.url(file.message_id), file.data, read=MiB)
        return {
            "ttfb_ms": got.ttfb * 1000 if got.ttfb is not None else None,
            "errors": int(got.error is not None),
            "error_kinds": [got.error] if got.error else [],
            "served_bytes": got.received,
        }


TRACES = committed()
TRACE_SCENARIOS = tuple(f"trace_{t.name}" for t in TRACES)
SCENARIOS = ("single", "seeks", *TRACE_SCENARIOS, "crowd_many", "crowd_one", "restart")
# What runs before a scenario inside its counters' window: the fresh server's first request
# (keys, imports, lookup) before the single stream, the restart itself before "restart".
PREPARE = {"single": "warm_up", "restart": "restart_server"}


async def run_all(runner: Runner, only: tuple[str, ...] = SCENARIOS) -> dict[str, dict[str, Any]]:
    """The scenarios in `only` (all by default), in their usual order; without the single
    stream, the fresh server's first request still comes first, unmeasured."""
    results = {}
    if "single" not in only:
        await runner.warm_up()
    for name in (s for s in SCENARIOS if s in only):
        prepare = getattr(runner, PREPARE[name]) if name in PREPARE else None
        if name in TRACE_SCENARIOS:
            scenario: Scenario = functools.partial(runner.trace, name.removeprefix("trace_"))
        else:
            scenario = getattr(runner, name)
        results[name] = await runner.measured(scenario, prepare)
    return results
