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


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None) -> None:
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
    config = emu.config
    env = {
        "API_ID": str(config["api_id"]),
        "API_HASH": config["api_hash"],
        "BOT_TOKEN": config["bot_tokens"][0],
        "BIN_CHANNEL": str(config["bin_channel"]),
        "TG_DC_ADDRESSES": ",".join(
            f"{dc}={entry['host']}:{entry['port']}" for dc, entry in config["dcs"].items()
        ),
        "TG_RSA_PUBLIC_KEY": config["rsa_public_key"],
        "SESSION_DIR": str(session_dir),
        "PORT": str(port),
        "BIND_ADDRESS": "127.0.0.1",
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SECRET": "e2e-test-secret-value",
        "LOG_JSON": "true",
    }
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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("API_", "BOT_", "MULTI_"))}
        base.update(server_env(self.emu, self.session_dir, self.port, **self.extra_env))
        return base

    def start(self, timeout: float = 60.0) -> ServerProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it while it runs
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tgstream", "serve"],
            cwd=self.session_dir.parent,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_http(f"{self.url}/healthz", timeout=timeout, proc=self.proc)
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
