"""Where tgstream's CPU goes on a bulk stream: py-spy samples `tgstream serve` (defaults)
while one viewer reads whole 64 MiB files from DC 4, shaped as `tgstream bench` shapes it.

    python -m tgbench.profile [--files 3] [--mib 64] [--top 25] [--keep DIR]

Each file is read once (a second read would come from the part cache).  Prints the CPU
seconds per GB the server spent against this machine's AES-256-IGE floor (tgbench/floor.py),
and the profile's top functions by own time and by time including callees.  py-spy comes
from requirements-dev.txt; it needs to be allowed to ptrace the server (root, or
kernel.yama.ptrace_scope 0).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from . import load
from .floor import aes_ige_mb_s
from .lineup import Server, lineup
from .meter import Meter, rss_bytes
from .run import _emulator
from .scenarios import DC, MiB


def _thread_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds so far of the process's main thread (its event loop) and of all others."""
    tick = os.sysconf("SC_CLK_TCK")
    main_s = others_s = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a thread that ended meanwhile
        seconds = (int(fields[11]) + int(fields[12])) / tick
        if task.name == str(pid):
            main_s += seconds
        else:
            others_s += seconds
    return main_s, others_s


def ige_floor_s_per_gb(seconds: float = 0.5, block: int = 1 << 20) -> float:
    """tgbench/floor.py's measure in CPU time, not wall time: on a shared machine the wall
    clock also counts the other processes' turns, and the server's figure is CPU time."""
    return 1e3 / aes_ige_mb_s(seconds, block, clock=time.thread_time)


def _py_spy() -> str:
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy is not installed (it is in requirements-dev.txt)")
    return found


def _frame(frame: str) -> str:
    """`func (path/to/module.py:123)` -> `func (module.py)`: one name per function."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    marker = "site-packages/"
    if marker in path:
        path = path.split(marker, 1)[1]
    elif "/tgstream/" in path:
        path = "tgstream/" + path.split("/tgstream/", 1)[1]
    return f"{name} ({path})"


_IDLE_WORKER = "_worker (concurrent/futures/thread.py)"
# Frames under which everything runs (thread and loop roots): no news in "including callees".
_ROOTS = (
    "(threading.py)",
    "(<frozen runpy>)",
    "(tgstream/__main__.py)",
    "(tgstream/cli.py)",
    "main (tgstream/server.py)",
    "(asyncio/runners.py)",
    "run_forever (",
    "run_until_complete (",
    "_run_once (",
    "(concurrent/futures/thread.py)",
)


def summarize(collapsed: str, top: int) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """Own time and inclusive time per function, as shares of all samples, from py-spy's
    collapsed-stack text (`frame;frame;... count` per line)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread ")]
        if not frames or frames[-1] == _IDLE_WORKER:
            # An executor's thread blocked on its queue: py-spy takes that C call for work.
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            if not any(root in name for root in _ROOTS):
                inclusive[name] += count
    if total == 0:
        return [], []
    return (
        [(name, n / total) for name, n in own.most_common(top)],
        [(name, n / total) for name, n in inclusive.most_common(top)],
    )


async def _read_all(url: str, data: bytes) -> load.Fetch:
    async with load.client() as http:
        return await load.fetch(http, url, data)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tgbench.profile", description=__doc__)
    parser.add_argument("--files", type=int, default=3, help="64 MiB files read (default 3)")
    parser.add_argument("--mib", type=int, default=64, help="file size (default 64)")
    parser.add_argument("--top", type=int, default=25, help="functions listed (default 25)")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--native", action="store_true", help="py-spy's C frames too")
    parser.add_argument("--keep", type=Path, default=None, help="keep logs and the profile here")
    args = parser.parse_args(argv)
    spy = _py_spy()
    floor = ige_floor_s_per_gb()
    contender = next(c for c in lineup() if c.name == "tgstream")
    with tempfile.TemporaryDirectory(prefix="tgstream-profile-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        with _emulator(base, 1, lambda text: print(text, file=sys.stderr)) as emu:
            # DC 4 shaped as the bench shapes it (_emulator does it).
            files = []
            for i in range(args.files + 1):
                data = os.urandom(args.mib * MiB)
                posted = emu.post_to_channel(data, DC, f"profile-{i}.bin")
                files.append((posted["message_id"], data))
            server = Server(contender, emu, base / "server")
            server.start()
            try:
                # The first file pays for keys, imports and lookups: not profiled.
                warm_id, warm_data = files[0]
                asyncio.run(_read_all(server.link(warm_id), warm_data))
                out = base / "profile.txt"
                sampler = subprocess.Popen(
                    [spy, "record", "--pid", str(server.pid), "--rate", str(args.rate)]
                    + ["--format", "raw", "--output", str(out)]
                    + (["--native"] if args.native else ["--nonblocking"]),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                idle_rss = rss_bytes(server.pid)
                meter = Meter(server.pid)
                threads_before = _thread_cpu(server.pid)
                served, errors, seconds = 0, 0, 0.0
                for message_id, data in files[1:]:
                    got = asyncio.run(_read_all(server.link(message_id), data))
                    served += got.received
                    seconds += got.seconds
                    errors += got.error is not None
                figures = meter.finish()
                threads_after = _thread_cpu(server.pid)
                sampler.send_signal(signal.SIGINT)
                sampler.wait(30)
            finally:
                server.stop()
            collapsed = out.read_text() if out.exists() else ""
    own, inclusive = summarize(collapsed, args.top)
    cpu_per_gb = figures["cpu_s"] / (served / 1e9) if served else float("nan")
    print(
        f"served {served / 1e6:.0f} MB in {seconds:.1f} s ({served / seconds / 1e6:.1f} MB/s), "
        f"errors {errors}; server CPU {figures['cpu_s']:.2f} s = {cpu_per_gb:.2f} s/GB, "
        f"AES-IGE floor {floor:.2f} s/GB ({cpu_per_gb / floor:.2f}x); "
        f"peak RSS {figures['peak_rss_mb']:.0f} MB (before the reads: {idle_rss / 1e6:.0f} MB)"
    )
    loop_s, others_s = (
        after - before for after, before in zip(threads_after, threads_before, strict=True)
    )
    print(
        f"event-loop thread {loop_s / (served / 1e9):.2f} s/GB, "
        f"other threads (Kurigram's decryption) {others_s / (served / 1e9):.2f} s/GB"
    )
    for title, rows in (("own time", own), ("including callees", inclusive)):
        print(f"\ntop {len(rows)} by {title} (share of samples):")
        for name, share in rows:
            print(f"  {share * 100:5.1f}%  {name}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
