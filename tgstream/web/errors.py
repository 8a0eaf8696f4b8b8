"""Every failure of a request becomes its HTTP answer here, and only here, through one
function (`error_response`): the status (and Retry-After, Content-Range, Allow...) that says
what the client can do, with a JSON body {"error": ...} for programs and, for a browser that
asks for HTML (pages.prefers_html), a page saying the same in words.  Both forms carry the
same status and headers; only the body and its type differ (and Vary: Accept says so).

So any status raised as an HTTPException (410 for a revoked link, 429 for a rate limit) or
as one of the project's own exceptions gets its page without more work; code that answers
outside the handlers (an ASGI response, a middleware) calls `error_response_for(scope, ...)`.

These handlers only answer failures that come before the status line.  A failure after it
can no longer change the answer: the file response aborts the connection instead."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Scope

from ..metrics import Metrics
from ..store import SharedStateDown
from ..telegram.errors import FileGone, TelegramUnavailable, UpstreamRejected
from .abuse import TooManyRequests
from .deadline import DeadlineMissed
from .head import allowed_methods
from .pages import error_page, page_headers, prefers_html

log = logging.getLogger("tgstream.web.errors")

DEFAULT_FRAME_ANCESTORS = "'self'"
# Where install_error_handlers leaves FRAME_ANCESTORS for answers made outside the handlers.
_STATE_KEY = "tgstream_frame_ancestors"
# Headers of a file that say nothing true of an error body about it.
_FILE_ONLY = ("content-disposition", "content-length", "content-type")


def error_response(
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    accept: str | None = None,
    frame_ancestors: str = DEFAULT_FRAME_ANCESTORS,
) -> Response:
    """The answer to a failure: `status` with `headers`, its body JSON, or HTML when
    `accept` (the request's Accept) prefers it."""
    ours = {**page_headers(frame_ancestors), "Vary": "Accept"}
    # Ours replace the caller's of the same name: the page's own policy, say, not a file's
    # sandbox (the page loads its stylesheet).
    replaced = {k.lower() for k in ours} | set(_FILE_ONLY)
    common = {k: v for k, v in (headers or {}).items() if k.lower() not in replaced}
    common.update(ours)
    if prefers_html(accept):
        retry_after = next((v for k, v in common.items() if k.lower() == "retry-after"), None)
        page = error_page(status, message, retry_after)
        return HTMLResponse(page, status_code=status, headers=common)
    return JSONResponse({"error": message}, status_code=status, headers=common)


def error_response_for(
    scope: Scope, status: int, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    """`error_response` for the request of an ASGI scope, with the app's FRAME_ANCESTORS."""
    app = scope.get("app")
    state = getattr(app, "state", None)
    frame_ancestors = getattr(state, _STATE_KEY, DEFAULT_FRAME_ANCESTORS)
    return error_response(
        status,
        message,
        headers,
        accept=Headers(scope=scope).get("accept"),
        frame_ancestors=frame_ancestors,
    )


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The JSON form alone, for a caller that has no request at hand."""
    return error_response(status, message, headers)


def install_error_handlers(
    app: FastAPI, metrics: Metrics, frame_ancestors: str = DEFAULT_FRAME_ANCESTORS
) -> None:
    setattr(app.state, _STATE_KEY, frame_ancestors)

    def answer(
        request: Request, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        return error_response_for(request.scope, status, message, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return answer(request, 400, "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = exc.headers
        if exc.status_code == 405 and headers and "Allow" in headers:
            allowed = allowed_methods(app, request.scope)
            if allowed:
                headers = {**headers, "Allow": ", ".join(sorted(allowed))}
        return answer(request, exc.status_code, str(exc.detail), headers)

    @app.exception_handler(FileGone)
    async def gone(request: Request, exc: FileGone) -> Response:
        return answer(request, 404, "no such file")

    @app.exception_handler(TelegramUnavailable)
    async def busy(request: Request, exc: TelegramUnavailable) -> Response:
        return answer(
            request,
            503,
            "Telegram is busy, retry later",
            {"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(SharedStateDown)
    async def no_state(request: Request, exc: SharedStateDown) -> Response:
        # A link this replica never resolved, or a DC it never reached, needs the shared
        # state; what it already holds in memory goes on serving.
        return answer(
            request,
            503,
            "shared state unavailable, retry later",
            {"Retry-After": f"{exc.retry_after:.0f}"},
        )

    @app.exception_handler(DeadlineMissed)
    async def late(request: Request, exc: DeadlineMissed) -> Response:
        metrics.deadline_misses.inc()
        return answer(request, 503, str(exc), {"Retry-After": "5"})

    @app.exception_handler(TooManyRequests)
    async def too_many(request: Request, exc: TooManyRequests) -> Response:
        return answer(request, 429, str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(UpstreamRejected)
    async def rejected(request: Request, exc: UpstreamRejected) -> Response:
        log.warning("Telegram rejected a request", extra={"error": str(exc)})
        return answer(request, 502, "Telegram refused the request")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # Never a traceback in a body; the log has it.
        return answer(request, 500, "internal error")
