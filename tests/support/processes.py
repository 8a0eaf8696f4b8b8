"""The emulator and `tgstream serve` as separate processes for end-to-end tests: the launcher
beside the emulator (tgemu.launch) with the tests' defaults (two bots, a fixed SECRET, JSON
logs) and short names for the control API calls they make most."""

from __future__ import annotations

import os
import signal
import time
import weakref
from pathlib import Path
from typing import Any

from tgemu import launch
from tgemu.launch import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "e2e-test-secret-value"
__all__ = ["ROOT", "SECRET", "EmulatorProcess", "ServerProcess", "free_port", "server_env"]
# Every server made here, so a failed test's report can say where each running one waits.
LIVE_SERVERS: weakref.WeakSet[ServerProcess] = weakref.WeakSet()


class EmulatorProcess(launch.EmulatorProcess):
    def __init__(self, state_dir: Path, log_path: Path, bots: int = 2, home_dc: int = 2) -> None:
        super().__init__(
            state_dir, log_path, bots=bots, home_dc=home_dc, options=launch.Options(cwd=ROOT)
        )

    def stats(self) -> dict[str, Any]:
        return self.control.stats()

    def dc_stats(self, dc: int) -> dict[str, int]:
        return self.control.dc_stats(dc)

    def faults(self, **patch: Any) -> dict[str, Any]:
        """POST /faults with `patch`; the merged faults."""
        return self.control.set_faults(**patch)

    def post_file(
        self, path: str, data: bytes, dc: int, name: str = "file.bin", **form: str
    ) -> dict[str, Any]:
        result: dict[str, Any] = self.control.post_file(path, data, dc, name, **form)
        return result

    def upload(self, data: bytes, dc: int, name: str = "file.bin", **form: str) -> dict[str, Any]:
        return dict(self.control.upload(data, dc, name, **form))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def server_env(emu: EmulatorProcess, session_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """The server's own settings for `emu` (no inherited environment), with the tests'
    fixed SECRET and JSON logs, then `extra`."""
    env = emu.server_env(session_dir, port)
    # The disk tier off unless a test turns it on: tests count getFile requests, and many
    # servers' session directories share a parent (where the tier's default folder is).
    env.update(SECRET=SECRET, LOG_JSON="true", CACHE_DISK_MB="0")
    env.update(extra)
    return env


class ServerProcess(launch.ServerProcess):
    """`tgstream serve` for `emu`, run in the parent of its session directory."""

    def __init__(
        self,
        emu: EmulatorProcess,
        session_dir: Path,
        log_path: Path,
        extra_env: dict[str, str] | None = None,
        port: int | None = None,
        nofile: tuple[int, int] | None = None,
    ) -> None:
        self.emu = emu
        self.session_dir = session_dir
        self.extra_env = dict(extra_env or {})
        port = port or free_port()
        env = {**launch.inherited_env(), **server_env(emu, session_dir, port, **self.extra_env)}
        options = launch.Options(cwd=session_dir.parent)
        super().__init__(env, port, log_path, nofile=nofile, options=options)
        LIVE_SERVERS.add(self)

    def env(self) -> dict[str, str]:
        return dict(self.environ)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        return super().stop(sig, timeout)

    def link(self, message_id: int, name: str = "file") -> str:
        from tgstream import links

        secret = self.extra_env.get("SECRET", SECRET)
        return self.url + links.download_path(message_id, name, secret)

    def status(self) -> dict[str, Any]:
        import httpx

        result: dict[str, Any] = httpx.get(f"{self.url}/status").json()
        return result

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def task_dump(self, wait: float = 2.0) -> str | None:
        """Where the server's asyncio tasks wait (its SIGUSR1 log record), or None when it is
        not running or wrote none in time: for a failed test's report."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        before = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            time.sleep(0.1)
            with self.log_path.open("rb") as log:
                log.seek(before)
                for line in log.read().decode(errors="replace").splitlines():
                    if '"asyncio tasks"' in line:
                        return line
        return None
