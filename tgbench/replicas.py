"""Scenario 5: N replicas of `tgstream serve` on one shared state (STATE_URL, a redis-server)
behind HAProxy (the shipped deploy/haproxy/haproxy.cfg), one bot, as many viewers as files,
each viewer streaming its own file through HAProxy with every byte hashed.

For each N a fresh Redis: replica 1 starts cold and pays for the bot's sign-in, keys and
imports (counted apart); replicas 2..N start on what it left there.  The emulator's counters
from then on (their start, their first request, the load) are what the later replicas cost
Telegram.  Each replica's first request goes to it directly, outside the timing, as the
single-server scenarios warm their server up.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tgemu.launch import (
    EmulatorProcess,
    HaproxyProcess,
    Options,
    RedisProcess,
    ServerProcess,
    free_port,
    haproxy_binary,
    inherited_env,
)
from tgstream import links

from . import load
from .lineup import SECRET
from .meter import Meter
from .scenarios import DC, File, Workload
from .stats import percentile

MiB = 1 << 20
# Emulator counters that a replica started on shared state must leave at zero.
COUNTERS = {
    "auth_keys_created": "auth_keys",
    "auth_imports": "imports",
    "bot_signins": "sign_ins",
    "auth_key_duplicated": "auth_key_duplicated",
    "file_migrate_errors": "file_migrate",
    "getfile_bytes": "upstream_bytes",
}


class Cluster:
    """Redis, `size` replicas on it, HAProxy in front of them: each its own child process
    with its log in `base`, in its own session (a Ctrl-C is the bench's to act on)."""

    def __init__(self, emu: EmulatorProcess, base: Path, size: int) -> None:
        base.mkdir(parents=True, exist_ok=True)
        own = Options(new_session=True)
        self.redis = RedisProcess(base / "redis", base / "redis.log", options=own)
        lb_port = free_port()
        self.replicas = [self._replica(emu, base, n, lb_port) for n in range(1, size + 1)]
        ports = [replica.port for replica in self.replicas]
        self.lb = HaproxyProcess(ports, base / "haproxy.cfg", base / "haproxy.log", port=lb_port)

    def _replica(self, emu: EmulatorProcess, base: Path, n: int, lb_port: int) -> ServerProcess:
        sessions = base / f"replica{n}-sessions"
        sessions.mkdir(exist_ok=True)
        port = free_port()
        env = {
            **inherited_env(),
            **emu.server_env(sessions, port),
            "STATE_URL": self.redis.url,
            "SECRET": SECRET,
            # The links a replica writes are HAProxy's.
            "PUBLIC_URL": f"http://127.0.0.1:{lb_port}",
            "LOG_LEVEL": "WARNING",
            # Replicas on one machine would share one disk cache; scenario 5 measures
            # streaming from Telegram, as replicas on separate machines would.
            "CACHE_DISK_MB": "0",
        }
        log = base / f"replica{n}.log"
        return ServerProcess(env, port, log, options=Options(new_session=True))

    def link(self, file: File) -> str:
        return self.lb.url + _path(file)

    def spread(self) -> list[int]:
        """Responses each replica sent through HAProxy, in replica order (its stats name the
        n-th backend tgstream<n>; health checks are not counted there)."""
        names = [f"tgstream{n}" for n in range(1, len(self.replicas) + 1)]
        for _ in range(5):
            rows = self.lb.servers()
            if all(name in rows for name in names):
                return [int(rows[name]["hrsp_2xx"] or 0) for name in names]
            # A stats page without every backend's row (seen once, at the end of a full
            # run): asked again rather than taken as a spread.
            time.sleep(0.5)
        raise RuntimeError(f"HAProxy's stats name {sorted(rows)}, not {names}")

    def start_rest(self) -> None:
        """Replicas 2..N, side by side (their start is mostly Python's own)."""
        with ThreadPoolExecutor(len(self.replicas)) as pool:
            list(pool.map(lambda replica: replica.start(), self.replicas[1:]))

    def stop(self) -> None:
        """HAProxy, then every replica at once (each drains on its SIGTERM), then Redis."""
        self.lb.stop()
        with ThreadPoolExecutor(len(self.replicas)) as pool:
            list(pool.map(lambda replica: replica.stop(), self.replicas))
        self.redis.stop()


def require() -> None:
    """RuntimeError, in one line, if redis-server or haproxy is missing: said before a run,
    not after the contenders' minutes."""
    haproxy_binary()
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")


def totals(emu: EmulatorProcess) -> dict[str, int]:
    """The emulator's counters since its last reset, summed over DCs, under the bench's names."""
    dcs = emu.control.stats()["dcs"].values()
    return {ours: sum(int(dc[theirs]) for dc in dcs) for theirs, ours in COUNTERS.items()}


async def _warm(url: str, file: File) -> str | None:
    """A replica's first request, straight to it: its keys read, its DC 4 connections open."""
    async with load.client() as http:
        got = await load.fetch(http, url, file.data, read=1)
    return got.error


async def measure(
    emu: EmulatorProcess, cluster: Cluster, files: list[File], warm: File, work: Workload
) -> dict[str, Any]:
    cluster.redis.start()
    errors: list[str | None] = []
    emu.control.reset_stats()
    first = cluster.replicas[0].start()
    errors.append(await _warm(first.url + _path(warm), warm))
    cold = totals(emu)
    emu.control.reset_stats()
    cluster.start_rest()
    for replica in cluster.replicas[1:]:
        errors.append(await _warm(replica.url + _path(warm), warm))
    cluster.lb.start()

    replicas = [Meter(replica.pid) for replica in cluster.replicas]
    rest = {
        "emulator": Meter(emu.pid),
        "haproxy": Meter(cluster.lb.pid),
        "redis": Meter(cluster.redis.pid),
    }
    viewers_cpu = time.process_time()  # the bench process: the viewers' HTTP and hashing
    async with load.client(len(files)) as http:
        deadline = asyncio.get_running_loop().time() + work.crowd_bound_s
        started = time.perf_counter()
        results = await asyncio.gather(
            *(load.fetch(http, cluster.link(f), f.data, deadline=deadline) for f in files)
        )
        wall = time.perf_counter() - started
    viewers_cpu = time.process_time() - viewers_cpu
    # Let cancelled prefetches settle so their bytes are counted against this run.
    await asyncio.sleep(0.3)
    each = [meter.finish() for meter in replicas]
    others = {name: meter.finish()["cpu_s"] for name, meter in rest.items()}
    after = totals(emu)
    spread = cluster.spread()

    served = sum(r.received for r in results)
    bound_ms = work.crowd_bound_s * 1000
    ttfbs = [r.ttfb * 1000 if r.ttfb is not None else bound_ms for r in results]
    cpu_s = sum(e["cpu_s"] for e in each)
    kinds = [e for e in errors if e] + [r.error for r in results if r.error]
    return {
        "replicas": len(cluster.replicas),
        "viewers": len(files),
        "mb_s": served / wall / 1e6,
        "ttfb_p50_ms": percentile(ttfbs, 50),
        "ttfb_p95_ms": percentile(ttfbs, 95),
        "errors": len(kinds),
        "error_kinds": sorted(set(kinds)),
        "served_bytes": served,
        "wall_s": wall,
        "cpu_s": cpu_s,
        "cpu_s_per_gb": cpu_s / (served / 1e9) if served else None,
        "haproxy_cpu_s_per_gb": others["haproxy"] / (served / 1e9) if served else None,
        "peak_rss_mb_each": [e["peak_rss_mb"] for e in each],
        "peak_rss_mb": max(e["peak_rss_mb"] for e in each),
        "spread": spread,
        "cpu_s_others": {**others, "viewers": viewers_cpu},
        "busy_cores": (cpu_s + sum(others.values()) + viewers_cpu) / wall,
        "upstream_per_served": after["upstream_bytes"] / served if served else None,
        "cold": {k: cold[k] for k in ("auth_keys", "imports", "sign_ins")},
        **{k: v for k, v in after.items() if k != "upstream_bytes"},
    }


def _path(file: File) -> str:
    return links.download_path(file.message_id, "bench.bin", SECRET)


def post_files(emu: EmulatorProcess, work: Workload) -> tuple[list[File], File]:
    """The viewers' files and the one each replica's first request reads, on DC 4."""

    def post(name: str, mib: int) -> File:
        data = os.urandom(mib * MiB)
        return File(emu.post_to_channel(data, DC, name)["message_id"], data)

    files = [post(f"replica-{i}.bin", work.replica_file_mib) for i in range(work.replica_viewers)]
    return files, post("replica-warm.bin", 1)


def run(
    emu: EmulatorProcess, work: Workload, runs: int, base: Path, say: Any
) -> list[dict[str, Any]]:
    """Every replica count of `work`, `runs` times each: [{"replicas": N, "runs": [...]}]."""
    files, warm = post_files(emu, work)
    raw: dict[int, list[dict[str, Any]]] = {n: [] for n in work.replica_counts}
    for run_index in range(runs):
        for n in work.replica_counts:
            started = time.monotonic()
            cluster = Cluster(emu, base / f"run{run_index}-replicas{n}", n)
            try:
                raw[n].append(asyncio.run(measure(emu, cluster, files, warm, work)))
            finally:
                cluster.stop()
            say(f"run {run_index + 1}/{runs}: {n} replica(s) ({time.monotonic() - started:.0f} s)")
    return [{"replicas": n, "runs": runs_of_n} for n, runs_of_n in raw.items()]
