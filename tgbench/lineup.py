"""The contenders: each a server process started from the same environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tgemu.launch import EmulatorProcess, Options, ServerProcess, free_port, inherited_env
from tgstream import links

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
            "TG-FileStreamBot's Python branch as shipped: no session on disk (each start signs"
            " in anew), one media session per DC (new key + import), one 1 MiB getFile in"
            " flight; Kurigram for Pyrogram 2.0, FastAPI for aiohttp",
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

    def __init__(self, contender: Contender, emu: EmulatorProcess, state: Path) -> None:
        self.contender = contender
        self.state = state
        sessions = state / "sessions"
        sessions.mkdir(parents=True, exist_ok=True)
        port = free_port()
        env = {
            **inherited_env(),
            **emu.server_env(sessions, port, contender.bots),
            "SECRET": SECRET,
            "LOG_LEVEL": "WARNING",
            # The scenarios measure streaming from Telegram; a restart must not find the
            # parts on disk (`bench --disk` measures the disk tier, and sets its own).
            "CACHE_DISK_MB": "0",
            **contender.env,
        }
        # Its own session, so that a Ctrl-C of the bench is the bench's to act on.
        options = Options(new_session=True)
        self.process = ServerProcess(
            env, port, state / "server.log", module=contender.module, options=options
        )
        self.url = self.process.url

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self) -> None:
        self.process.start()

    def stop(self) -> None:
        self.process.stop()

    def link(self, message_id: int) -> str:
        return self.contender.url(self.url, message_id)
