"""Running the emulator and `tgstream serve` as child processes, wired only through their
public interfaces: a free port, waiting for /healthz, and the server's environment for an
emulator's /config.  The demo uses it, and so do the bench and the end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx


def free_port(preferred: int = 0) -> int:
    """`preferred` if it is free (0: any), else any free loopback port."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            chosen: int = sock.getsockname()[1]
            return chosen
    raise RuntimeError("no free port")


def wait_http(
    url: str, proc: subprocess.Popen[bytes] | None, what: str, timeout: float = 60.0
) -> None:
    """Until `url` answers 200; RuntimeError if `proc` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}; see its log")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer on {url} within {timeout:.0f} s")


def inherited_env() -> dict[str, str]:
    """This process's environment without any Telegram credentials of its own."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("API_", "BOT_", "MULTI_"))}


def server_env(config: dict[str, Any], session_dir: Path, port: int) -> dict[str, str]:
    """The settings of a `tgstream serve` on 127.0.0.1:`port` pointed at the emulator whose
    /config is `config`, signed in as its first bot."""
    return {
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
    }
