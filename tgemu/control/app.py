"""The control API's application: the resource routers over one emulator."""

from __future__ import annotations

from fastapi import FastAPI

from ..server import Emulator
from .channels import router as channels
from .errors import install_error_handlers
from .faults import router as faults
from .files import router as files
from .health import router as health
from .stats import router as stats
from .users import router as users


def create_control_app(emu: Emulator) -> FastAPI:
    app = FastAPI(title="tgemu control API", version="1", docs_url=None, redoc_url=None)
    app.state.emulator = emu
    install_error_handlers(app)
    for resource in (health, files, users, channels, stats, faults):
        app.include_router(resource)
    return app
