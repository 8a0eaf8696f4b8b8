"""Starting the emulator (and later the server) as separate processes for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@dataclass
class EmulatorProcess:
    state_dir: Path
    log_path: Path
    bots: int = 2
    home_dc: int = 2
    control_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    _config: dict[str, Any] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    def start(self) -> EmulatorProcess:
        args = [
            sys.executable,
            "-m",
            "tgstream",
            "emulator",
            "--control-port",
            str(self.control_port),
            "--state-dir",
            str(self.state_dir),
            "--bots",
            str(self.bots),
            "--home-dc",
            str(self.home_dc),
        ]
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it while it runs
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_http(f"{self.url}/healthz", proc=self.proc)
        self._config = None
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def config(self) -> dict[str, Any]:
        if self._config is None:
            self._config = httpx.get(f"{self.url}/config").json()
        return self._config

    def dc_address(self, dc: int) -> tuple[str, int]:
        entry = self.config["dcs"][str(dc)]
        return entry["host"], int(entry["port"])

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.url}/stats").json()
        return result

    def dc_stats(self, dc: int) -> dict[str, int]:
        result: dict[str, int] = self.stats()["dcs"][str(dc)]
        return result

    def reset(self) -> None:
        httpx.post(f"{self.url}/stats/reset").raise_for_status()
        httpx.delete(f"{self.url}/faults").raise_for_status()

    def faults(self, **patch: Any) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/faults", json=patch)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def upload(self, data: bytes, dc: int, name: str = "file.bin", **form: str) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/files",
            files={"file": (name, data)},
            data={"dc_id": str(dc), **form},
            timeout=120,
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
