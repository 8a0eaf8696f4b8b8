"""The app built in-process, as the unit tests drive it: settings a server would accept,
the wiring's Services, the app over in-memory files, and an HTTP client on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from tgstream.config import Settings
from tgstream.service import Services
from tgstream.status import render as render_status
from tgstream.web.app import create_app
from tgstream.web.source import FileSource


def settings_for(session_dir: Path, **extra: Any) -> Settings:
    """Valid required settings (no .env read), SESSION_DIR and whatever a test sets."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        api_id=12345,
        api_hash="0123456789abcdef0123456789abcdef",
        bot_token="123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi",
        bin_channel=-1001234567890,
        session_dir=session_dir,
        **extra,
    )


def app_over(services: Services, files: FileSource | None = None) -> FastAPI:
    return create_app(services, lambda: render_status(services), files)


def client_of(
    app: FastAPI, peer: tuple[str, int] | None = None, raise_errors: bool = False
) -> httpx.AsyncClient:
    """Errors come back as answers, the way a server would send them (a 500 included),
    unless `raise_errors`."""
    extra: dict[str, Any] = {} if peer is None else {"client": peer}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_errors, **extra)
    return httpx.AsyncClient(transport=transport, base_url="http://tgstream")
