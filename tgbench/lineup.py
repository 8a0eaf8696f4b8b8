"""The contenders: each a server process started from the same environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tgstream import links
from tgstream.demo.launch import free_port, inherited_env, server_env

from .procs import Child

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
            **inherited_env(),
            **server_env(config, sessions, self.port),
            "SECRET": SECRET,
            "LOG_LEVEL": "WARNING",
            **contender.env,
        }
        for index in range(1, contender.bots):
            self.env[f"MULTI_TOKEN{index}"] = config["bot_tokens"][index]
        self.child: Child | None = None

    def start(self) -> Child:
        self.child = Child(list(self.contender.module), self.state / "server.log", self.env)
        self.child.wait_http(f"{self.url}/readyz")
        return self.child

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
            self.child = None

    def link(self, message_id: int) -> str:
        return self.contender.url(self.url, message_id)
