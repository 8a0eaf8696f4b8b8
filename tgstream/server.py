"""`tgstream serve`: the HTTP server and the bots, until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable
from urllib.parse import urlsplit

import uvicorn

from . import logs, task_dump
from .config import ConfigError, Settings, load_settings
from .service import Services
from .status import render as render_status
from .store import StoreUnavailable, lock_session_dir
from .web.app import create_app
from .web.edge import (
    FD_RESERVE,
    AcceptErrorLog,
    EdgeLimits,
    protocol_for,
    raise_open_file_limit,
    return_part_memory,
)
from .web.response import StreamAborted

log = logging.getLogger("tgstream.server")


class _QuietAborts(logging.Filter):
    """A body cut on purpose (Telegram failed after headers) is logged once by us, not again
    by uvicorn as an application crash."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, StreamAborted):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


def secrets_of(settings: Settings) -> list[str]:
    values = [settings.api_hash, settings.bot_token, settings.secret, *settings.multi_tokens]
    found = [v.get_secret_value() for v in values]
    # A token's secret half is what must never leak; its numeric id is public.
    found += [v.split(":", 1)[1] for v in found if ":" in v]
    if settings.state_url and urlsplit(settings.state_url).password:
        found.append(str(urlsplit(settings.state_url).password))
    return found


class _Lifecycle:
    """SIGINT/SIGTERM before the HTTP server exists abort the start-up; once it exists, they
    ask it to drain and stop (uvicorn also re-raises the signal it handled itself when it is
    done, which then means nothing more)."""

    server: uvicorn.Server | None = None
    # Run in the loop at the first signal: the bot's updates go to another replica at
    # once, while the downloads in progress drain.
    hand_over: Callable[[], object] | None = None

    @classmethod
    def on_signal(cls, signum: int, frame: object) -> None:
        if cls.server is None:
            raise KeyboardInterrupt
        cls.server.should_exit = True
        if cls.hand_over is not None:
            cls.hand_over()


async def run(settings: Settings) -> int:
    """Serve until a signal (0), or until start-up cannot go on (2, one line why).

    The HTTP server listens first and the bots sign in behind it: /healthz answers at once,
    /status says what start-up waits for, and links get a 503 with Retry-After until a bot
    is up, however long a flood wait on sign-in lasts."""
    try:
        # Two servers on one SQLite state break each other; on a shared store they are
        # replicas, each with its own SESSION_DIR or none.
        session_lock = None if settings.state_url else lock_session_dir(settings.session_dir)
        services = Services.build(settings)
    except StoreUnavailable as exc:
        print(f"tgstream: SESSION_DIR {exc}", file=sys.stderr)
        return 2
    services.session_lock = session_lock
    asyncio.get_running_loop().set_exception_handler(AcceptErrorLog())
    task_dump.install(asyncio.get_running_loop())
    open_files = raise_open_file_limit()
    return_part_memory()
    limits = EdgeLimits(
        head_timeout=settings.request_head_timeout,
        stall_timeout=settings.stall_timeout,
        max_connections=max(1, min(settings.max_connections, open_files - FD_RESERVE)),
    )
    # asyncio accepts up to `backlog` connections in one go, and only sets them up (and
    # closes the ones that make room) in later turns of the loop, while more are accepted:
    # where files are what bounds connections, keep a few such bursts inside the reserve.
    file_bound = limits.max_connections < settings.max_connections
    backlog = FD_RESERVE // 8 if file_bound else 2048
    services.connections = limits.snapshot
    services.open_files_limit = open_files
    try:
        app = create_app(services, lambda: render_status(services))
        config = uvicorn.Config(
            app,
            host=settings.bind_address,
            port=settings.port,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=15,
            server_header=False,
            # The client's address is the TCP peer's: X-Forwarded-For is read by the web
            # app's limits, and only from TRUSTED_PROXIES (uvicorn would trust 127.0.0.1).
            proxy_headers=False,
            http=protocol_for(limits),
            backlog=backlog,
        )
        server = uvicorn.Server(config)
        log.info(
            "serving",
            extra={
                "bind": f"{settings.bind_address}:{settings.port}",
                "public_url": settings.public_url,
            },
        )
        _Lifecycle.server = server
        loop = asyncio.get_running_loop()
        _Lifecycle.hand_over = lambda: loop.call_soon_threadsafe(
            lambda: asyncio.ensure_future(services.leadership.stop())
        )
        await services.start()
        serving = asyncio.create_task(server.serve())
        failed = asyncio.create_task(services.failed.wait())
        await asyncio.wait({serving, failed}, return_when=asyncio.FIRST_COMPLETED)
        if services.fatal is not None and not serving.done():
            print(f"tgstream: {services.fatal}", file=sys.stderr)
            server.should_exit = True
            await serving
            return 2
        failed.cancel()
        await serving
        return 0
    finally:
        await services.stop()


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(
            "usage: tgstream serve\n\nSettings come from the environment and ./.env (see README)."
        )
        return 0
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"tgstream: {exc}", file=sys.stderr)
        return 2
    # Every file this process creates (sessions, store) is private to its user.
    os.umask(0o077)
    logs.setup(settings.log_level, settings.log_json, secrets_of(settings))
    logging.getLogger("uvicorn.error").addFilter(_QuietAborts())
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _Lifecycle.on_signal)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run(settings))
    return 0
