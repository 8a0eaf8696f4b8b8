"""The FastAPI application."""

from __future__ import annotations

from pathlib import Path as PathLib
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import links
from . import download, watch

if TYPE_CHECKING:
    from ..service import Services

STATIC = PathLib(__file__).parent / "static"
MessageId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Sig = Annotated[str, Query(max_length=200)]


def create_app(services: Services) -> FastAPI:
    app = FastAPI(title="tgstream", version="0.1.0", docs_url=None, redoc_url=None)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "invalid request"}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Never a traceback in a body; the log has it.
        return JSONResponse({"error": "internal error"}, status_code=500)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True, "ready": services.started}

    @app.get("/status")
    async def status() -> dict[str, Any]:
        return services.status()

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/watch/{message_id}/{file_name}", response_class=HTMLResponse)
    async def watch_page(message_id: MessageId, file_name: str, sig: Sig = "") -> Response:
        resolved = await download.resolve_signed(services, message_id, sig)
        if isinstance(resolved, JSONResponse):
            return resolved
        path = links.download_path(message_id, resolved.file_name, services.secret)
        absolute = links.public_url(services.settings.public_url, path)
        return HTMLResponse(
            watch.render(resolved, path, absolute),
            headers={
                "Content-Security-Policy": "default-src 'self'; media-src 'self'; "
                "img-src 'self'; style-src 'self'; script-src 'self'",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    @app.api_route("/dl/{message_id}/{file_name}", methods=["GET", "HEAD"])
    async def dl(
        request: Request,
        message_id: MessageId,
        file_name: str,
        sig: Sig = "",
        download_: Annotated[bool, Query(alias="download")] = False,
    ) -> Response:
        return await download.serve(request, services, message_id, sig, download_)

    return app
