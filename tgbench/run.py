"""`tgstream bench`: start the emulator with DC 4 shaped like a distant DC, run every
contender through the same scenarios N times, then N replicas behind HAProxy on one Redis;
print medians and ratios, optionally JSON."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tgemu.launch import EmulatorProcess, Options

from . import disk, emulator_throughput, record, replicas, replicas_report, report, transcode
from .floor import aes_ige_mb_s
from .lineup import Contender, Server, lineup
from .scenarios import DC, FULL, QUICK, SCENARIOS, Files, Runner, Workload, run_all

RTT_MS = 80
CONNECTION_BPS = 8_000_000
ACCOUNT_BPS = 64_000_000


def _network() -> dict[str, Any]:
    return {
        "dc": DC,
        "rtt_ms": RTT_MS,
        "connection_mb_s": CONNECTION_BPS / 1e6,
        "account_mb_s": ACCOUNT_BPS / 1e6,
    }


def _one(
    emu: EmulatorProcess,
    contender: Contender,
    files: Files,
    work: Workload,
    run: int,
    base: Path,
    only: tuple[str, ...],
) -> dict[str, Any]:
    server = Server(contender, emu, base / f"run{run}-{contender.name}")
    server.start()
    try:
        runner = Runner(emu, server, files, work, seed=run)
        return asyncio.run(run_all(runner, only))
    finally:
        server.stop()


@contextlib.contextmanager
def _emulator(base: Path, bots: int, say: Any) -> Iterator[EmulatorProcess]:
    """The emulator in its own process, DC 4 shaped like a distant DC, one account cap."""
    say("starting the emulator ...")
    emu = EmulatorProcess(
        base / "emulator", base / "emulator.log", bots=bots, options=Options(new_session=True)
    )
    try:
        emu.start()
        emu.control.shape_dc(DC, latency_ms=RTT_MS, bandwidth_bps=CONNECTION_BPS)
        emu.control.account_bandwidth(ACCOUNT_BPS)
        yield emu
    finally:
        emu.stop(signal.SIGTERM)


def _replicas(emu: EmulatorProcess, work: Workload, runs: int, base: Path, say: Any) -> Any:
    say(f"scenario 5: {', '.join(map(str, work.replica_counts))} replica(s) behind HAProxy ...")
    raw = replicas.run(emu, work, runs, base / "replicas", say)
    # Each replica is tgstream with its defaults: that contender's connections per DC.
    connections = next(c.connections for c in lineup() if c.name == "tgstream")
    return replicas_report.summarize(raw, connections, _network(), os.cpu_count() or 1)


def bench(
    work: Workload,
    runs: int,
    base: Path,
    say: Any,
    *,
    scale: bool = True,
    only: tuple[str, ...] = SCENARIOS,
) -> dict[str, Any]:
    """Every contender through the scenarios (those in `only`), then (with `scale`)
    scenario 5."""
    contenders = lineup()
    if scale:
        replicas.require()
    say("AES-256-IGE on one core: measuring ...")
    aes = aes_ige_mb_s()
    with _emulator(base, max(c.bots for c in contenders), say) as emu:
        say("posting the files ...")
        files = Files(emu, work)
        raw: dict[str, list[dict[str, Any]]] = {c.name: [] for c in contenders}
        for run in range(runs):
            for contender in contenders:
                started = time.monotonic()
                raw[contender.name].append(_one(emu, contender, files, work, run, base, only))
                say(f"run {run + 1}/{runs}: {contender.name} ({time.monotonic() - started:.0f} s)")
        scaled: Any = None
        failed: str | None = None
        if scale:
            try:
                scaled = _replicas(emu, work, runs, base, say)
            except Exception as exc:  # the other scenarios' half hour is still worth printing
                failed = f"{type(exc).__name__}: {exc}"
                say(f"scenario 5 failed: {failed}")
    result = report.summarize(contenders, raw, work, _network(), aes)
    if scaled is not None:
        result["replicas"] = scaled
        result["all_bytes_correct"] = result["all_bytes_correct"] and scaled["bytes_correct"]
    if failed is not None:
        result["replicas_failed"] = failed
        result["all_bytes_correct"] = False
    return result


def bench_replicas(work: Workload, runs: int, base: Path, say: Any) -> dict[str, Any]:
    """Scenario 5 alone (`--replicas`)."""
    replicas.require()
    say("AES-256-IGE on one core: measuring ...")
    aes = aes_ige_mb_s()
    with _emulator(base, 1, say) as emu:
        scaled = _replicas(emu, work, runs, base, say)
    return {
        "workload": asdict(work),
        "network": _network(),
        "aes_ige_mb_s": aes,
        "cpu_floor_s_per_gb": 1e9 / (aes * 1e6),
        "runs_per_figure": runs,
        "replicas": scaled,
        "all_bytes_correct": scaled["bytes_correct"],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tgstream bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one run, small files (CI smoke)")
    parser.add_argument(
        "--runs", type=int, default=None, help="runs per contender and replica count (default 3)"
    )
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    parser.add_argument("--keep", type=Path, default=None, help="keep logs in this directory")
    parser.add_argument(
        "--replicas",
        action="store_true",
        help="scenario 5 alone: 1, then 3 replicas on one Redis behind HAProxy",
    )
    parser.add_argument(
        "--no-replicas", action="store_true", help="every scenario but 5 (no Redis, no HAProxy)"
    )
    parser.add_argument(
        "--disk",
        action="store_true",
        help="the disk tier alone: one file from Telegram, then from disk after a restart",
    )
    parser.add_argument(
        "--transcode",
        action="store_true",
        help="HLS alone: CPU seconds per second of audio transcoded to AAC (AC3 5.1 in)",
    )
    parser.add_argument(
        "--record-trace",
        choices=("chromium", "mpv"),
        default=None,
        help="record what this player asks while a user seeks about a film, as a trace for the "
        "player-trace scenario (written to tgbench/traces/PLAYER.json, or to --trace-out)",
    )
    parser.add_argument("--trace-out", type=Path, default=None, help="where --record-trace writes")
    parser.add_argument(
        "--only",
        default=None,
        help="these scenarios alone, comma-separated (of: " + ", ".join(SCENARIOS) + "); "
        "no replicas; targets over scenarios not run print n/a",
    )
    ceiling = parser.add_argument_group("the emulator's own getFile throughput, instead")
    ceiling.add_argument("--emulator-throughput", action="store_true")
    ceiling.add_argument("--size-mib", type=int, default=64, help="file size (default 64)")
    ceiling.add_argument("--clients", type=int, default=8, help="Kurigram clients (default 8)")
    args = parser.parse_args(argv)
    runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    if runs < 1:
        parser.error("--runs must be at least 1")
    if args.size_mib < 1 or args.clients < 2:
        parser.error("--size-mib must be at least 1 and --clients at least 2")
    if args.replicas and (args.no_replicas or args.emulator_throughput):
        parser.error("--replicas runs scenario 5 alone: not with --no-replicas or the ceiling")
    only = SCENARIOS
    if args.only is not None:
        only = tuple(n.strip() for n in args.only.split(",") if n.strip())
        unknown = sorted(set(only) - set(SCENARIOS))
        if unknown or not only:
            parser.error(f"--only takes scenarios of: {', '.join(SCENARIOS)}")
    work = QUICK if args.quick else FULL
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:5.0f} s] {text}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="tgstream-bench-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        try:
            if args.record_trace:
                with _emulator(base, 1, say) as emu:
                    record.record(emu, args.record_trace, base, args.trace_out, say)
                return 0
            if args.emulator_throughput:
                rows = emulator_throughput.run(base, args.size_mib, args.clients, say)
                result: dict[str, Any] = {"emulator_throughput": rows}
            elif args.disk:
                with _emulator(base, 1, say) as emu:
                    row = disk.run(emu, work.single_mib, ACCOUNT_BPS / 1e6, base, say)
                result = {"disk": row, "all_bytes_correct": row["bytes_correct"]}
            elif args.transcode:
                with _emulator(base, 1, say) as emu:
                    row = transcode.run(emu, 60 if args.quick else 300, base, say)
                result = {"transcode": row, "all_bytes_correct": row["bytes_correct"]}
            elif args.replicas:
                result = bench_replicas(work, runs, base, say)
            else:
                scale = not args.no_replicas and args.only is None
                result = bench(work, runs, base, say, scale=scale, only=only)
        except RuntimeError as exc:
            print(f"tgstream bench: {exc}", file=sys.stderr)
            return 1
    result["seconds"] = round(time.monotonic() - started, 1)
    if args.emulator_throughput:
        print(emulator_throughput.table(result["emulator_throughput"], args.size_mib))
        result["all_bytes_correct"] = True  # wrong bytes raise
    elif args.disk:
        print(disk.table(result["disk"]))
    elif args.transcode:
        print(transcode.table(result["transcode"]))
    else:
        print(report.table(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["all_bytes_correct"] else 1
