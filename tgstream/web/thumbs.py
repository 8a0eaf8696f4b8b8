"""The routes beside a file's links: its thumbnail (`/thumb/{id}.jpg`, the watch page's poster
and link-preview picture) and a one-entry M3U playlist of it (`/m3u/{id}/{name}.m3u`, which
VLC, mpv and Kodi open directly).  Both are signed as the file's links are and refused the
same way (403 forged, 410 expired or revoked) before anything is resolved."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from starlette.exceptions import HTTPException

from .. import links
from ..metrics import Metrics
from ..store import FileInfo
from ..store.revocations import Revocations
from ..telegram.errors import NoThumbnail
from .conditional import if_none_match_matches, last_modified_of
from .deadline import FirstByteClock
from .download import check_link
from .headers import content_disposition, file_security_headers
from .previews import M3U_TYPE, playlist
from .route_docs import Exp, MessageId, Sig, error_responses
from .source import FileSource

__all__ = ["M3U_PATH", "THUMB_PATH", "add_routes", "thumb_etag"]

THUMB_PATH = "/thumb/{message_id}.jpg"
M3U_PATH = "/m3u/{message_id}/{file_name:tgstream_name}"
NO_THUMBNAIL = "this file has no thumbnail"
_ERRORS = error_responses(
    "Malformed request (400), invalid or forged link (403), no such file or, for a "
    "thumbnail, none for this file (404), expired or revoked link (410), or too many requests "
    "from this client (429, retry after Retry-After)"
)
_THUMB_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file's thumbnail, as Telegram keeps it",
        "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
    },
    304: {"description": "Not modified (If-None-Match matched)"},
    **_ERRORS,
}
_M3U_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An extended M3U playlist holding the file's download link",
        "content": {M3U_TYPE: {"schema": {"type": "string"}}},
    },
    **_ERRORS,
}


def thumb_etag(info: FileInfo) -> str:
    """A strong validator of the thumbnail: Telegram's file id, the thumbnail's size type
    and length never change for one document (and differ from the document's own ETag)."""
    return f'"{info.media_id:x}-thumb-{info.thumb_type}-{info.thumb_length:x}"'


def add_routes(
    app: FastAPI,
    files: FileSource,
    secret: str,
    revocations: Revocations,
    metrics: Metrics,
    deadline: float,
    public_url: str,
    admit: Callable[[Request], Coroutine[Any, Any, None]],
) -> None:
    """Register GET and HEAD of both routes; `admit` is the rate limit the page routes pay."""

    async def resolved(
        message_id: int, sig: str, exp: str | None, clock: FirstByteClock
    ) -> FileInfo:
        await check_link(message_id, sig, exp, secret, revocations, metrics)
        async with clock.guard():
            return await files.resolve(message_id)

    async def thumbnail(
        request: Request, message_id: MessageId, sig: Sig = "", exp: Exp = None
    ) -> Response:
        clock = FirstByteClock(deadline)
        info = await resolved(message_id, sig, exp, clock)
        if not info.has_thumb:
            raise HTTPException(404, NO_THUMBNAIL)
        headers = {
            "ETag": thumb_etag(info),
            "Last-Modified": last_modified_of(info),
            # As /dl: a browser keeps it for an hour, shared caches never (links are private).
            "Cache-Control": "private, max-age=3600",
            **file_security_headers(),
        }
        if if_none_match_matches(request.headers.get("if-none-match"), headers["ETag"]):
            return Response(status_code=304, headers=headers)
        try:
            async with clock.guard():
                data = await files.thumbnail(info)
        except NoThumbnail:
            raise HTTPException(404, NO_THUMBNAIL) from None
        return Response(data, media_type="image/jpeg", headers=headers)

    async def m3u(
        message_id: MessageId, file_name: str, sig: Sig = "", exp: Exp = None
    ) -> Response:
        info = await resolved(message_id, sig, exp, FirstByteClock(deadline))
        # The playlist's link ends when the playlist's own does.
        ends = None if exp is None else int(exp)
        url = links.public_url(
            public_url, links.download_path(message_id, info.file_name, secret, ends)
        )
        return Response(
            playlist(info.file_name, url),
            media_type=M3U_TYPE,
            headers={
                "Content-Disposition": content_disposition(f"{info.file_name}.m3u", True),
                "Cache-Control": "private, no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    admitted = [Depends(admit)]
    for method in ("GET", "HEAD"):
        suffix = "" if method == "GET" else "_head"
        app.add_api_route(
            THUMB_PATH,
            thumbnail,
            methods=[method],
            operation_id=f"thumbnail{suffix}",
            response_class=Response,
            responses=_THUMB_RESPONSES,
            dependencies=admitted,
        )
        app.add_api_route(
            M3U_PATH,
            m3u,
            methods=[method],
            operation_id=f"m3u_playlist{suffix}",
            response_class=Response,
            responses=_M3U_RESPONSES,
            dependencies=admitted,
        )
