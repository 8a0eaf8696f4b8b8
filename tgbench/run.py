"""`tgstream bench`: start the emulator with DC 4 shaped like a distant DC, run every
contender through the same scenarios N times, print medians and ratios, optionally JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tgemu.launch import EmulatorProcess, Options

from . import emulator_throughput, report
from .floor import aes_ige_mb_s
from .lineup import Contender, Server, lineup
from .scenarios import DC, FULL, QUICK, Files, Runner, Workload, run_all

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
    emu: EmulatorProcess, contender: Contender, files: Files, work: Workload, run: int, base: Path
) -> dict[str, Any]:
    server = Server(contender, emu, base / f"run{run}-{contender.name}")
    server.start()
    try:
        runner = Runner(emu, server, files, work, seed=run)
        return asyncio.run(run_all(runner))
    finally:
        server.stop()


def bench(work: Workload, runs: int, base: Path, say: Any) -> dict[str, Any]:
    contenders = lineup()
    say("AES-256-IGE on one core: measuring ...")
    aes = aes_ige_mb_s()
    say("starting the emulator ...")
    emu = EmulatorProcess(
        base / "emulator",
        base / "emulator.log",
        bots=max(c.bots for c in contenders),
        options=Options(new_session=True),
    )
    try:
        emu.start()
        say("posting the files ...")
        files = Files(emu, work)
        emu.control.shape_dc(DC, latency_ms=RTT_MS, bandwidth_bps=CONNECTION_BPS)
        emu.control.account_bandwidth(ACCOUNT_BPS)
        raw: dict[str, list[dict[str, Any]]] = {c.name: [] for c in contenders}
        for run in range(runs):
            for contender in contenders:
                started = time.monotonic()
                raw[contender.name].append(_one(emu, contender, files, work, run, base))
                say(f"run {run + 1}/{runs}: {contender.name} ({time.monotonic() - started:.0f} s)")
    finally:
        emu.stop(signal.SIGTERM)
    return report.summarize(contenders, raw, work, _network(), aes)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tgstream bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one run, small files (CI smoke)")
    parser.add_argument("--runs", type=int, default=None, help="runs per contender (default 3)")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    parser.add_argument("--keep", type=Path, default=None, help="keep logs in this directory")
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
    work = QUICK if args.quick else FULL
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:5.0f} s] {text}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="tgstream-bench-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        try:
            if args.emulator_throughput:
                rows = emulator_throughput.run(base, args.size_mib, args.clients, say)
                result: dict[str, Any] = {"emulator_throughput": rows}
            else:
                result = bench(work, runs, base, say)
        except RuntimeError as exc:
            print(f"tgstream bench: {exc}", file=sys.stderr)
            return 1
    result["seconds"] = round(time.monotonic() - started, 1)
    if args.emulator_throughput:
        print(emulator_throughput.table(result["emulator_throughput"], args.size_mib))
        result["all_bytes_correct"] = True  # wrong bytes raise
    else:
        print(report.table(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["all_bytes_correct"] else 1
