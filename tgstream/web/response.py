"""The response for a file of the bin channel, as Starlette's FileResponse is for a file on
disk: it reads the request's method, If-None-Match, If-Modified-Since, Range and If-Range
itself and answers
304, HEAD, 416, 206 (one range) or 200, the body streamed in pieces from a FileSource.

Nothing goes out before the first piece of the body is in hand, so whatever fails up to
there (Telegram busy, the file gone, the first-byte deadline) is raised to the app's error
handlers and answered properly.  A failure after the status line can no longer be said in
HTTP: the connection is aborted (StreamAborted), so a cut body never looks complete.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable

from starlette.datastructures import Headers
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from ..metrics import Metrics
from ..store import FileInfo
from ..streaming.ranges import RangeNotSatisfiable, content_range, parse_range, unsatisfied_range
from ..streaming.source import ShorterThanDeclared
from ..telegram.metadata import clean_media_type
from .conditional import (
    etag_of,
    if_modified_since_unchanged,
    if_none_match_matches,
    if_range_allows_partial,
    last_modified_of,
)
from .deadline import FirstByteClock
from .edge import WRITABLE
from .errors import error_response_for
from .headers import content_disposition, file_security_headers, is_active_content
from .source import FileSource

log = logging.getLogger("tgstream.web.download")
# Bytes served are counted into the metric at least this often (and at the end): once per
# piece was a lock and a float add 64 times a MiB.
COUNT_EVERY = 1 << 20


class StreamAborted(Exception):
    """Raised inside a body after headers went out: the server drops the connection."""


class TelegramFileResponse(Response):
    def __init__(
        self,
        info: FileInfo,
        source: FileSource,
        *,
        metrics: Metrics,
        attachment: bool = False,
        clock: FirstByteClock | None = None,
    ) -> None:
        self.info = info
        self.source = source
        self.metrics = metrics
        self.attachment = attachment
        # Without a clock (no deadline), time to first byte counts from here.
        self.clock = clock
        self.started = clock.started if clock is not None else time.monotonic()
        self.status_code = 200  # until the request says otherwise
        self.file_type = clean_media_type(info.mime_type)
        self.media_type = self.file_type
        self.background = None
        self.init_headers({})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.clock is None:
            answer = await self._answer(scope)
        else:
            async with self.clock.guard():
                answer = await self._answer(scope)
        self.status_code = answer.status_code
        answer.background = self.background
        await answer(scope, receive, send)

    async def _answer(self, scope: Scope) -> Response:
        try:
            return await self._answer_for(self.info, scope)
        except ShorterThanDeclared as shorter:
            # Found before any byte went out: the same answer for the file's real size.
            self.info = shorter.info
            return await self._answer_for(shorter.info, scope)

    def _file_headers(self, info: FileInfo) -> dict[str, str]:
        """What every answer about the file carries, 304 and 416 included."""
        return {
            "Accept-Ranges": "bytes",
            "ETag": etag_of(info),
            "Last-Modified": last_modified_of(info),
            "Cache-Control": "private, max-age=3600",
            **file_security_headers(),
            "Content-Disposition": content_disposition(
                info.file_name, self.attachment or is_active_content(self.file_type)
            ),
        }

    async def _answer_for(self, info: FileInfo, scope: Scope) -> Response:
        method, request = scope["method"], Headers(scope=scope)
        headers = self._file_headers(info)
        etag, last_modified = headers["ETag"], headers["Last-Modified"]
        # If-None-Match, or without it If-Modified-Since, comes before Range (RFC 9110
        # §13.2.2): a match is 304 even for a range.
        if_none_match = request.get("if-none-match")
        if if_none_match is not None:
            if if_none_match_matches(if_none_match, etag):
                return Response(status_code=304, headers=headers)
        elif if_modified_since_unchanged(
            request.get("if-modified-since"), info.date, method, time.time()
        ):
            return Response(status_code=304, headers=headers)
        range_header = request.get("range")
        if range_header is not None and not if_range_allows_partial(
            request.get("if-range"), etag, last_modified
        ):
            range_header = None
        try:
            byte_range = parse_range(range_header, info.size)
        except RangeNotSatisfiable:
            headers["Content-Range"] = unsatisfied_range(info.size)
            # An error like any other: JSON, or a page for a browser (errors.py).
            return error_response_for(scope, 416, "range not satisfiable", headers)
        if byte_range is None:
            status, start, end = 200, 0, info.size - 1
        else:
            status, start, end = 206, byte_range.start, byte_range.end
            headers["Content-Range"] = content_range(byte_range, info.size)
        headers["Content-Length"] = str(end - start + 1)
        if method == "HEAD":
            return Response(status_code=status, headers=headers, media_type=self.file_type)
        body = await self._first_piece_in_hand(info, start, end, whole=byte_range is None)
        return _PiecesResponse(
            self._observed(body, info, start, end, _socket_of(scope)),
            status_code=status,
            headers=headers,
            media_type=self.file_type,
        )

    async def _first_piece_in_hand(
        self, info: FileInfo, start: int, end: int, whole: bool
    ) -> AsyncGenerator[bytes, None]:
        """The body, its first piece already fetched: what fails up to it fails here."""
        pieces = self.source.stream(info, start, end, whole)
        try:
            first = await anext(pieces)
        except StopAsyncIteration:  # an empty file: nothing to wait for
            return pieces
        return _chain(first, pieces)

    async def _observed(
        self,
        body: AsyncGenerator[bytes, None],
        info: FileInfo,
        start: int,
        end: int,
        socket: tuple[Callable[[], bool], Callable[[], Awaitable[None]]],
    ) -> AsyncIterator[bytes]:
        """The body, with the metrics and the one log line per stream."""
        metrics = self.metrics
        metrics.active_streams.inc()
        paused, writable = socket
        sent = counted = 0
        outcome = "complete"
        try:
            async with contextlib.aclosing(body):
                while True:
                    # The next piece is made once the socket takes more: a viewer who
                    # stopped reading then pins only what its socket buffer holds.
                    if paused():
                        await writable()
                    try:
                        chunk = await anext(body)
                    except StopAsyncIteration:
                        break
                    if sent == 0:
                        metrics.ttfb.observe(time.monotonic() - self.started)
                    size = len(chunk)
                    yield chunk
                    del chunk  # not held while the socket is waited for
                    sent += size
                    if sent - counted >= COUNT_EVERY:
                        metrics.bytes_served.inc(sent - counted)
                        counted = sent
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
            if sent > counted:
                metrics.bytes_served.inc(sent - counted)
            metrics.active_streams.dec()
            metrics.streams.labels(outcome).inc()
            log.info(
                "stream",
                extra={
                    "message_id": info.message_id,
                    "file": info.file_name,
                    "range": f"{start}-{end}",
                    "bytes": sent,
                    "seconds": round(time.monotonic() - self.started, 3),
                    "outcome": outcome,
                },
            )


def _socket_of(scope: Scope) -> tuple[Callable[[], bool], Callable[[], Awaitable[None]]]:
    """Whether the viewer's socket has stopped taking more, and what waits until it takes
    more: the edge protocol's, or (another ASGI server, an in-process test client) never
    and nothing.  A plain check first: a coroutine made and awaited for every piece cost
    the fastest path (the disk tier) a visible share."""
    extension = scope.get("extensions", {}).get(WRITABLE)
    if extension is None:
        return _never, _at_once
    return extension["paused"], extension["wait"]


def _never() -> bool:
    return False


async def _at_once() -> None:
    return None


async def _chain(first: bytes, rest: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
    # No piece is kept in a local of this frame once yielded: a viewer who stops reading
    # would pin it beside what its socket buffer holds.
    head = [first]
    del first
    async with contextlib.aclosing(rest):
        yield head.pop()
        while True:
            try:
                yield await anext(rest)
            except StopAsyncIteration:
                return


class _PiecesResponse(StreamingResponse):
    """Starlette's StreamingResponse, but the piece just sent is not held in a local while
    the next is awaited: for a stalled viewer that wait is long, and the piece 16 KiB."""

    async def stream_response(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        pieces = aiter(self.body_iterator)
        while True:
            try:
                await send(
                    {"type": "http.response.body", "body": await anext(pieces), "more_body": True}
                )
            except StopAsyncIteration:
                break
        await send({"type": "http.response.body", "body": b"", "more_body": False})
