"""Every failure of a request becomes its HTTP answer here, and only here: a JSON body
{"error": ...} with the status (and Retry-After) that says what the client can do.

These handlers only answer failures that come before the status line.  A failure after it
can no longer change the answer: the file response aborts the connection instead."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..metrics import Metrics
from ..store import SharedStateDown
from ..telegram.errors import FileGone, TelegramUnavailable, UpstreamRejected
from .abuse import TooManyRequests
from .deadline import DeadlineMissed

log = logging.getLogger("tgstream.web.errors")


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI, metrics: Metrics) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return json_error(400, "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return json_error(exc.status_code, str(exc.detail))

    @app.exception_handler(FileGone)
    async def gone(request: Request, exc: FileGone) -> JSONResponse:
        return json_error(404, "no such file")

    @app.exception_handler(TelegramUnavailable)
    async def busy(request: Request, exc: TelegramUnavailable) -> JSONResponse:
        return json_error(
            503, "Telegram is busy, retry later", {"Retry-After": str(exc.retry_after)}
        )

    @app.exception_handler(SharedStateDown)
    async def no_state(request: Request, exc: SharedStateDown) -> JSONResponse:
        # A link this replica never resolved, or a DC it never reached, needs the shared
        # state; what it already holds in memory goes on serving.
        return json_error(
            503, "shared state unavailable, retry later", {"Retry-After": f"{exc.retry_after:.0f}"}
        )

    @app.exception_handler(DeadlineMissed)
    async def late(request: Request, exc: DeadlineMissed) -> JSONResponse:
        metrics.deadline_misses.inc()
        return json_error(503, str(exc), {"Retry-After": "5"})

    @app.exception_handler(TooManyRequests)
    async def too_many(request: Request, exc: TooManyRequests) -> JSONResponse:
        return json_error(429, str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(UpstreamRejected)
    async def rejected(request: Request, exc: UpstreamRejected) -> JSONResponse:
        log.warning("Telegram rejected a request", extra={"error": str(exc)})
        return json_error(502, "Telegram refused the request")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Never a traceback in a body; the log has it.
        return json_error(500, "internal error")
