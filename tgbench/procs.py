"""The processes a bench run starts, and what is read off them: RSS and CPU from /proc."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from tgstream.demo.launch import free_port, wait_http

_TICK = os.sysconf("SC_CLK_TCK")


class Child:
    """A child process with its output in a log file, stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.log = log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_http(self, url: str) -> None:
        wait_http(url, self.proc, self.log.name)

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        # Fields after the parenthesised command name; utime and stime are 14th and 15th.
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


class Meter:
    """Peak RSS (sampled every 20 ms) and CPU seconds of one process over one scenario."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_bytes(pid)
        self._cpu0 = cpu_seconds(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, rss_bytes(self.pid))

    def finish(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(OSError):
            self.peak = max(self.peak, rss_bytes(self.pid))
        return {"peak_rss_mb": self.peak / 1e6, "cpu_s": cpu_seconds(self.pid) - self._cpu0}


class Emulator:
    """`tgstream emulator` as its own process, driven through its control API."""

    def __init__(self, state: Path, bots: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.child = Child(
            [
                "tgstream",
                "emulator",
                "--control-port",
                str(self.port),
                "--state-dir",
                str(state / "emulator"),
                "--bots",
                str(bots),
            ],
            state / "emulator.log",
        )
        self.child.wait_http(f"{self.url}/healthz")
        self.config: dict[str, Any] = httpx.get(f"{self.url}/config").json()

    def post_to_channel(self, data: bytes, dc: int, name: str) -> int:
        response = httpx.post(
            f"{self.url}/channels/{self.config['bin_channel']}/documents",
            files={"file": (name, data)},
            data={"dc_id": str(dc)},
            timeout=300,
        )
        response.raise_for_status()
        message_id: int = response.json()["message_id"]
        return message_id

    def faults(self, **patch: Any) -> None:
        httpx.post(f"{self.url}/faults", json=patch).raise_for_status()

    def reset_stats(self) -> None:
        httpx.post(f"{self.url}/stats/reset").raise_for_status()

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.url}/stats").json()
        return result

    def stop(self) -> None:
        self.child.stop()
