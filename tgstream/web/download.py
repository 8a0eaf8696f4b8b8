"""GET/HEAD of a signed link: 200, 206, 304, 403, 404, 416 and 503 as RFC 9110 says, and a
body that is either complete or visibly cut (the connection aborted), never short."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from fastapi import Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from .. import links
from ..store import FileInfo
from ..streaming.ranges import (
    RangeNotSatisfiable,
    content_range,
    if_none_match_matches,
    if_range_allows_partial,
    parse_range,
    unsatisfied_range,
)
from ..streaming.source import RangeStream
from ..telegram.errors import FileGone, TelegramUnavailable
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

# The largest write handed to the HTTP server at once: asyncio's own write-buffer high-water
# mark, so a viewer who stops reading pins about this much, not a whole part.
SEND_CHUNK = 64 * 1024


class StreamAborted(Exception):
    """Raised inside a body after headers went out: the server drops the connection."""


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def resolve_signed(services: Services, message_id: int, sig: str) -> FileInfo | JSONResponse:
    if not links.verify(message_id, sig, services.secret):
        return error(403, "invalid or forged link")
    try:
        return await services.resolver.get(message_id)
    except FileGone:
        return error(404, "no such file")
    except TelegramUnavailable as exc:
        return error(503, "Telegram is busy, retry later", {"Retry-After": str(exc.retry_after)})


async def serve(
    request: Request, services: Services, message_id: int, sig: str, attachment: bool
) -> Response:
    started = time.monotonic()
    resolved = await resolve_signed(services, message_id, sig)
    if isinstance(resolved, JSONResponse):
        return resolved
    info = resolved
    etag, last_modified = etag_of(info), last_modified_of(info)
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": last_modified,
        "Cache-Control": "private, max-age=3600",
        **file_security_headers(),
        "Content-Disposition": content_disposition(
            info.file_name, attachment or is_active_content(info.mime_type)
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
        return Response(status_code=status, headers=headers, media_type=info.mime_type)

    stream = RangeStream(
        cache_key=info.media_id,
        fetch=lambda offset, limit, precise, urgent: services.downloader.fetch(
            info, offset, limit, precise, urgent
        ),
        cache=services.cache,
        start=start,
        end=end,
        size=info.size,
        settings=services.stream_settings,
        live=services.pipeline_tasks,
    )
    try:
        await stream.prime()
    except TelegramUnavailable as exc:
        return error(503, "Telegram is busy, retry later", {"Retry-After": str(exc.retry_after)})
    except FileGone:
        return error(404, "no such file")
    body = _observed(services, stream, info, start, end, started)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=info.mime_type)


async def _observed(
    services: Services, stream: RangeStream, info: FileInfo, start: int, end: int, started: float
) -> AsyncIterator[bytes | memoryview]:
    """The body, with the metrics and the one log line per stream."""
    metrics = services.metrics
    metrics.active_streams.inc()
    sent = 0
    outcome = "complete"
    try:
        async for piece in stream.body():
            if sent == 0:
                metrics.ttfb.observe(time.monotonic() - started)
            # The server copies whatever the socket does not take at once into its write
            # buffer and only then waits for the viewer; handing it a whole 1 MiB part would
            # cost each slow viewer a private megabyte.  Zero-copy slices keep that small.
            view = memoryview(piece)
            for at in range(0, len(view), SEND_CHUNK):
                chunk = view[at : at + SEND_CHUNK]
                yield chunk
                sent += len(chunk)
                metrics.bytes_served.inc(len(chunk))
    except GeneratorExit:
        outcome = "client_closed"
        raise
    except Exception as exc:
        outcome = "client_closed" if isinstance(exc, OSError) else "aborted"
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
