"""Starting the emulator (and later the server) as separate processes for end-to-end tests."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tgstream.demo.launch import free_port, inherited_env, wait_http
from tgstream.demo.launch import server_env as emulator_server_env

ROOT = Path(__file__).resolve().parents[2]
# Both re-exported for the tests.
__all__ = ["ROOT", "EmulatorProcess", "ServerProcess", "free_port", "server_env"]


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
        wait_http(f"{self.url}/healthz", self.proc, "the emulator")
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

    def post_file(
        self, path: str, data: bytes, dc: int, name: str = "file.bin", **form: str
    ) -> dict[str, Any]:
        """POST a file (multipart `file` + `dc_id` + extra form fields) to the control API."""
        response = httpx.post(
            f"{self.url}{path}",
            files={"file": (name, data)},
            data={"dc_id": str(dc), **form},
            timeout=120,
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def post_to_channel(
        self, data: bytes, dc: int, name: str = "file.bin", **form: str
    ) -> dict[str, Any]:
        """An admin posts a file into the bin channel; returns its message id and dc."""
        path = f"/channels/{self.config['bin_channel']}/documents"
        return self.post_file(path, data, dc, name, **form)

    def upload(self, data: bytes, dc: int, name: str = "file.bin", **form: str) -> dict[str, Any]:
        return self.post_file("/files", data, dc, name, **form)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def server_env(emu: EmulatorProcess, session_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """The server's own settings for `emu` (no inherited environment), with the tests'
    fixed SECRET and JSON logs, then `extra`."""
    env = emulator_server_env(emu.config, session_dir, port)
    env.update(SECRET="e2e-test-secret-value", LOG_JSON="true")
    env.update(extra)
    return env


@dataclass
class ServerProcess:
    """`tgstream serve` as its own process, configured only through its environment."""

    emu: EmulatorProcess
    session_dir: Path
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    # (soft, hard) RLIMIT_NOFILE the server starts with; None: this process's own.
    nofile: tuple[int, int] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _limit(self) -> None:
        if self.nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, self.nofile)

    def env(self) -> dict[str, str]:
        base = inherited_env()
        base.update(server_env(self.emu, self.session_dir, self.port, **self.extra_env))
        return base

    def start(self, timeout: float = 60.0, wait_ready: bool = True) -> ServerProcess:
        """Start it; by default until every bot is signed in (/readyz), else until it
        listens (/healthz)."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it while it runs
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tgstream", "serve"],
            cwd=self.session_dir.parent,
            preexec_fn=self._limit if self.nofile is not None else None,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        path = "/readyz" if wait_ready else "/healthz"
        wait_http(f"{self.url}{path}", self.proc, "tgstream serve", timeout)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        code = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                code = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
        elif self.proc is not None:
            code = self.proc.returncode
        self.proc = None
        return code

    def link(self, message_id: int, name: str = "file") -> str:
        from tgstream import links

        secret = self.extra_env.get("SECRET", "e2e-test-secret-value")
        return self.url + links.download_path(message_id, name, secret)

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.url}/status").json()
        return result

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")
