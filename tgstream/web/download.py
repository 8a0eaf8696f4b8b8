"""GET/HEAD of a signed link: 200, 206, 304, 403, 404, 416, 502 and 503 as RFC 9110 says,
within the first-byte deadline, and a body that is either complete or visibly cut (the
connection aborted), never short."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from fastapi import Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from .. import links
from ..store import FileInfo
from ..streaming.pipeline import ShortPart
from ..streaming.ranges import (
    RangeNotSatisfiable,
    content_range,
    if_none_match_matches,
    if_range_allows_partial,
    parse_range,
    unsatisfied_range,
)
from ..streaming.source import FetchPart, RangeStream, find_end
from ..telegram.errors import FileGone, TelegramUnavailable, UpstreamRejected
from ..telegram.metadata import clean_media_type
from .headers import (
    content_disposition,
    etag_of,
    file_security_headers,
    is_active_content,
    last_modified_of,
)

if TYPE_CHECKING:
    from ..service import Services

log = logging.getLogger("tgstream.web.download")


class StreamAborted(Exception):
    """Raised inside a body after headers went out: the server drops the connection."""


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def unavailable(retry_after: int, message: str = "Telegram is busy, retry later") -> JSONResponse:
    return error(503, message, {"Retry-After": str(retry_after)})


def failure_response(exc: Exception) -> JSONResponse | None:
    """The answer for a failure before headers, or None when it is not Telegram's (a bug)."""
    if isinstance(exc, FileGone):
        return error(404, "no such file")
    if isinstance(exc, TelegramUnavailable):
        return unavailable(exc.retry_after)
    if isinstance(exc, UpstreamRejected):
        log.warning("Telegram rejected a request", extra={"error": str(exc)})
        return error(502, "Telegram refused the request")
    return None


async def before_deadline(services: Services, work: Callable[[], Awaitable[Response]]) -> Response:
    """`work` (everything up to the status line), or a 503 once the first-byte deadline is
    up: a request never hangs in silence, whatever Telegram does."""
    deadline = services.settings.first_byte_deadline
    try:
        async with asyncio.timeout(deadline):
            return await work()
    except TimeoutError:
        services.metrics.deadline_misses.inc()
        return unavailable(5, f"Telegram did not answer within {deadline:g} s, retry later")
    except Exception as exc:
        answer = failure_response(exc)
        if answer is None:
            raise
        return answer


async def serve(
    request: Request, services: Services, message_id: int, sig: str, attachment: bool
) -> Response:
    if not links.verify(message_id, sig, services.secret):
        return error(403, "invalid or forged link")
    return await before_deadline(
        services, lambda: _respond(request, services, message_id, attachment)
    )


async def _respond(
    request: Request, services: Services, message_id: int, attachment: bool
) -> Response:
    started = time.monotonic()
    info = await services.resolver.get(message_id)
    try:
        return await _respond_with(request, services, info, attachment, started)
    except ShortPart as short:
        # The file ends before its declared size: learn the real size, answer with it.
        if short.real_size >= info.size:
            raise UpstreamRejected(f"message {message_id}: a part came back short") from None
        real_size = short.real_size
        if not short.exact:
            real_size = await find_end(_fetcher(services, info), real_size)
        fixed = services.resolver.correct_size(info, real_size)
        return await _respond_with(request, services, fixed, attachment, started)


async def _respond_with(
    request: Request, services: Services, info: FileInfo, attachment: bool, started: float
) -> Response:
    media_type = clean_media_type(info.mime_type)
    etag, last_modified = etag_of(info), last_modified_of(info)
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": last_modified,
        "Cache-Control": "private, max-age=3600",
        **file_security_headers(),
        "Content-Disposition": content_disposition(
            info.file_name, attachment or is_active_content(media_type)
        ),
    }
    if if_none_match_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    range_header = request.headers.get("range")
    if range_header is not None and not if_range_allows_partial(
        request.headers.get("if-range"), etag, last_modified
    ):
        range_header = None
    try:
        byte_range = parse_range(range_header, info.size)
    except RangeNotSatisfiable:
        return error(
            416, "range not satisfiable", {**headers, "Content-Range": unsatisfied_range(info.size)}
        )
    if byte_range is None:
        status, start, end = 200, 0, info.size - 1
    else:
        status, start, end = 206, byte_range.start, byte_range.end
        headers["Content-Range"] = content_range(byte_range, info.size)
    headers["Content-Length"] = str(end - start + 1)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)

    stream = RangeStream(
        cache_key=info.media_id,
        fetch=_fetcher(services, info),
        cache=services.cache,
        start=start,
        end=end,
        size=info.size,
        settings=services.stream_settings,
        live=services.pipeline_tasks,
    )
    await stream.prime()
    body = _observed(services, stream, info, start, end, started)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=media_type)


def _fetcher(services: Services, info: FileInfo) -> FetchPart:
    def fetch(offset: int, limit: int, precise: bool, urgent: bool) -> Awaitable[bytes]:
        return services.downloader.fetch(info, offset, limit, precise, urgent)

    return fetch


async def _observed(
    services: Services, stream: RangeStream, info: FileInfo, start: int, end: int, started: float
) -> AsyncIterator[bytes]:
    """The body, with the metrics and the one log line per stream."""
    metrics = services.metrics
    metrics.active_streams.inc()
    sent = 0
    outcome = "complete"
    try:
        async for chunk in stream.body():
            if sent == 0:
                metrics.ttfb.observe(time.monotonic() - started)
            yield chunk
            sent += len(chunk)
            metrics.bytes_served.inc(len(chunk))
    except GeneratorExit:
        outcome = "client_closed"
        raise
    except Exception as exc:
        outcome = "client_closed" if isinstance(exc, OSError) else "aborted"
        if isinstance(exc, ShortPart) and exc.exact and exc.real_size < info.size:
            services.resolver.correct_size(info, exc.real_size)  # for the next request
        log.warning(
            "stream aborted after headers",
            extra={"message_id": info.message_id, "error": repr(exc)},
        )
        raise StreamAborted(repr(exc)) from None
    except BaseException:
        outcome = "cancelled"
        raise
    finally:
        if outcome == "complete" and sent != end - start + 1:
            outcome = "client_closed"
        metrics.active_streams.dec()
        metrics.streams.labels(outcome).inc()
        log.info(
            "stream",
            extra={
                "message_id": info.message_id,
                "file": info.file_name,
                "range": f"{start}-{end}",
                "bytes": sent,
                "seconds": round(time.monotonic() - started, 3),
                "outcome": outcome,
            },
        )
