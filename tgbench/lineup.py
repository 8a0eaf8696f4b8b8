"""The contenders: each a server process started from the same environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tgstream import links

from .procs import Child, free_port

SECRET = "tgstream-bench-secret"


@dataclass(frozen=True)
class Contender:
    name: str
    reproduces: str
    module: tuple[str, ...]
    connections: int  # connections to the file's DC that its downloads use
    bots: int = 1
    env: dict[str, str] = field(default_factory=dict)

    def url(self, base: str, message_id: int) -> str:
        if self.module[0] == "tgstream":
            return base + links.download_path(message_id, "bench.bin", SECRET)
        return f"{base}/dl/{message_id}"


def lineup() -> list[Contender]:
    from tgstream.config import Settings

    connections = int(Settings.model_fields["connections_per_dc"].default)
    return [
        Contender(
            "naive",
            "FastAPI + Kurigram stream_media(offset=...), one transmission per client",
            ("tgbench.contenders.naive",),
            connections=1,
        ),
        Contender(
            "sequential",
            "cached media session, one 1 MiB getFile in flight (TG-FileStreamBot, Python)",
            ("tgbench.contenders.sequential",),
            connections=1,
        ),
        Contender("tgstream", "tgstream serve, defaults", ("tgstream", "serve"), connections),
        Contender(
            "tgstream-2bots",
            "tgstream serve, defaults, two bots",
            ("tgstream", "serve"),
            connections * 2,
            bots=2,
        ),
    ]


class Server:
    """One contender's process; restartable on the same session directory."""

    def __init__(self, contender: Contender, config: dict[str, Any], state: Path) -> None:
        self.contender = contender
        self.state = state
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        sessions = state / "sessions"
        sessions.mkdir(parents=True, exist_ok=True)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("API_", "BOT_", "MULTI_"))},
            "API_ID": str(config["api_id"]),
            "API_HASH": config["api_hash"],
            "BOT_TOKEN": config["bot_tokens"][0],
            "BIN_CHANNEL": str(config["bin_channel"]),
            "TG_DC_ADDRESSES": ",".join(
                f"{dc}={v['host']}:{v['port']}" for dc, v in config["dcs"].items()
            ),
            "TG_RSA_PUBLIC_KEY": config["rsa_public_key"],
            "SESSION_DIR": str(sessions),
            "PORT": str(self.port),
            "BIND_ADDRESS": "127.0.0.1",
            "PUBLIC_URL": self.url,
            "SECRET": SECRET,
            "LOG_LEVEL": "WARNING",
            **contender.env,
        }
        for index in range(1, contender.bots):
            self.env[f"MULTI_TOKEN{index}"] = config["bot_tokens"][index]
        self.child: Child | None = None

    def start(self) -> Child:
        self.child = Child(list(self.contender.module), self.state / "server.log", self.env)
        self.child.wait_http(f"{self.url}/healthz")
        return self.child

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
            self.child = None

    def link(self, message_id: int) -> str:
        return self.contender.url(self.url, message_id)
