"""HLS of a bin-channel file at signed URLs: a player that cannot play the file as it is
(an MKV, AC3 sound) plays this instead.

    /hls/{message_id}/index.m3u8?sig=…[&exp=…]       master playlist
    /hls/{message_id}/{rendition}/index.m3u8?sig=…    a rendition's media playlist
    /hls/{message_id}/{rendition}/{n}.ts|.vtt?sig=…   its segment n

Renditions: `v` (video, copied), `a{track}` (an audio track as AAC), `s{track}` (a text
subtitle track as WebVTT).  Every request carries the same signed link as /dl (403 forged,
410 expired or revoked); the playlists' URIs are relative and carry the request's own
signature.  A file that is not audio/video answers 404, one PyAV cannot read 422, each with
a message saying so; every segment job past TRANSCODE_SLOTS answers 503 with Retry-After.
"""

from __future__ import annotations

import logging
from typing import Annotated, Protocol
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Path, Response
from starlette.exceptions import HTTPException

from ..config import Settings
from ..media import Media, MediaProbe, NotMedia, TranscodeBusy
from ..media.playlists import (
    master_playlist,
    media_playlist,
    offers,
    parse_rendition,
    parse_segment,
)
from ..media.probe import Unreadable
from ..media.segments import plan_segments
from ..metrics import Metrics
from ..store import FileInfo
from ..store.revocations import Revocations
from ..streaming.source import ShorterThanDeclared
from . import download
from .abuse import AbuseLimits
from .deadline import FirstByteClock
from .route_docs import Exp, MessageId, Sig, error_responses
from .source import FileSource

log = logging.getLogger("tgstream.web.hls")

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPES = {"ts": "video/mp2t", "vtt": "text/vtt; charset=utf-8"}
MASTER_PATH = "/hls/{message_id}/index.m3u8"
CHILD_PATH = "/hls/{message_id}/{rendition}/{name}"

Part = Annotated[str, Path(max_length=32)]

_RESPONSES = error_responses(
    "Malformed request (400), forged link (403), no such file, rendition or segment, or not "
    "audio/video (404), expired or revoked link (410), a file PyAV cannot read (422), too "
    "many requests (429)",
    busy="Telegram is busy, or every transcode slot is: retry after Retry-After",
)


class Server(Protocol):
    """What the HLS routes read of the running server (the app's Server has it all)."""

    @property
    def secret(self) -> str: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def revocations(self) -> Revocations: ...
    @property
    def settings(self) -> Settings: ...


def add_routes(
    app: FastAPI,
    services: Server,
    source: FileSource,
    abuse: AbuseLimits,
    media: Media,
) -> None:
    """The /hls routes over `source`, with `media` (probes and segment jobs over it), which
    the app keeps as `app.state.media`."""
    app.state.media = media
    deadline = services.settings.first_byte_deadline

    async def check(message_id: int, sig: str, exp: str | None) -> None:
        await download.check_link(
            message_id, sig, exp, services.secret, services.revocations, services.metrics
        )

    async def open_file(message_id: int) -> tuple[FileInfo, MediaProbe]:
        async with FirstByteClock(deadline).guard():
            info = await source.resolve(message_id)
            try:
                probe = await media.probes.require(info)
            except NotMedia as refused:
                status = 422 if refused.unreadable else 404
                raise HTTPException(status, f"no HLS for this file: {refused.reason}") from None
        return info, probe

    def query(sig: str, exp: str | None) -> str:
        fields = {"sig": sig, **({"exp": exp} if exp is not None else {})}
        return "?" + urlencode(fields)

    @app.get(
        MASTER_PATH,
        response_class=Response,
        responses={200: {"content": {PLAYLIST_TYPE: {}}}, **_RESPONSES},
        dependencies=[Depends(abuse.admit_page)],
    )
    async def hls_master(message_id: MessageId, sig: Sig = "", exp: Exp = None) -> Response:
        """The master playlist: the video, every audio track (as AAC), text subtitles."""
        await check(message_id, sig, exp)
        info, probe = await open_file(message_id)
        text = master_playlist(probe, info.size, query(sig, exp))
        return Response(text, media_type=PLAYLIST_TYPE, headers=_CACHE_PLAYLIST)

    @app.get(
        CHILD_PATH,
        response_class=Response,
        responses={
            200: {"content": {PLAYLIST_TYPE: {}, "video/mp2t": {}, "text/vtt": {}}},
            **_RESPONSES,
        },
    )
    async def hls_child(
        message_id: MessageId, rendition: Part, name: Part, sig: Sig = "", exp: Exp = None
    ) -> Response:
        """A rendition's media playlist (`index.m3u8`) or one of its segments."""
        await check(message_id, sig, exp)
        wanted = parse_rendition(rendition)
        if wanted is None:
            raise HTTPException(404, "no such rendition (v, a{track} or s{track})")
        info, probe = await open_file(message_id)
        if not offers(probe, wanted):
            raise HTTPException(404, f"this file has no rendition {rendition}")
        segments = plan_segments(probe, info.size)
        if not segments:
            raise HTTPException(422, "no HLS for this file: its duration is unknown")
        if name == "index.m3u8":
            text = media_playlist(segments, wanted, query(sig, exp))
            return Response(text, media_type=PLAYLIST_TYPE, headers=_CACHE_PLAYLIST)
        number = parse_segment(name, wanted)
        if number is None or number >= len(segments):
            raise HTTPException(404, "no such segment")
        try:
            data = await media.jobs.segment(info, probe, wanted, segments[number])
        except TranscodeBusy as busy:
            raise HTTPException(503, str(busy), {"Retry-After": str(busy.retry_after)}) from None
        except Unreadable as failed:
            log.warning("segment failed", extra={"message_id": message_id, "error": str(failed)})
            raise HTTPException(422, f"cannot make this segment: {failed}") from None
        except ShorterThanDeclared:
            # The file's real size is known now: the next request plans with it.
            raise HTTPException(503, "the file changed size, retry", {"Retry-After": "1"}) from None
        return Response(data, media_type=SEGMENT_TYPES[wanted.extension], headers=_CACHE_SEGMENT)


# Playlists and segments of a file never change (a file's bytes never do), but a link can be
# revoked: caches keep them privately and not for long.
_CACHE_PLAYLIST = {"Cache-Control": "private, max-age=300"}
_CACHE_SEGMENT = {"Cache-Control": "private, max-age=3600"}
