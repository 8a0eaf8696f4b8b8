"""The FastAPI application."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path as PathLib
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.convertors import Convertor, register_url_convertor
from starlette.routing import Route

from .. import links
from ..config import Settings
from ..media import Media
from ..metrics import Metrics
from ..store import StateStore
from ..store.revocations import Revocations
from ..telegram.bots import BotClient
from . import download, hls, internal, pages, watch
from .abuse import AbuseLimits
from .counting import CountResponses
from .dav import BASE as DAV_BASE
from .dav import DavView
from .deadline import FirstByteClock
from .errors import install_error_handlers
from .head import answer_head_wherever_get
from .page_probe import page_probe
from .previews import page_links
from .route_docs import Exp, MessageId, Sig, error_responses
from .source import FileSource
from .thumbs import add_routes as add_thumb_routes


class Server(Protocol):
    """What the app reads of the running server; the wiring's Services provides it."""

    @property
    def settings(self) -> Settings: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def secret(self) -> str: ...
    @property
    def started(self) -> bool: ...
    @property
    def bots(self) -> Sequence[BotClient]: ...
    @property
    def files(self) -> FileSource: ...
    @property
    def revocations(self) -> Revocations: ...
    @property
    def store(self) -> StateStore: ...
    @property
    def media(self) -> Media: ...
    async def backfill_index(self, gap: int) -> dict[str, int]: ...


STATIC = PathLib(__file__).parent / "static"


class _NameConvertor(Convertor[str]):
    """The cosmetic file name of a link: any text at all.

    Names come from Telegram, and the path reaches routing percent-decoded, so a name with
    "/" spans several segments and one with a newline defeats Starlette's ":path" (``.*``).
    Either way the link must still reach its route rather than 404.
    """

    regex = r"(?s:.+)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("tgstream_name", _NameConvertor())
DL_PATH = "/dl/{message_id}/{file_name:tgstream_name}"
WATCH_PATH = "/watch/{message_id}/{file_name:tgstream_name}"


_LANDING: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The service is up; its bot's t.me link once the bot has signed in. "
        "A page for a client that prefers HTML.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "ok": {"type": "boolean"},
                        "ready": {"type": "boolean"},
                        "status": {"type": "string", "enum": ["ready", "starting"]},
                        "bot": {"type": ["string", "null"]},
                        "bot_url": {"type": ["string", "null"]},
                    },
                    "required": ["ok", "ready", "status", "bot", "bot_url"],
                }
            },
            "text/html": {"schema": {"type": "string"}},
        },
    }
}
_ERRORS = error_responses(
    "Malformed request (400), invalid or forged link (403), no such file (404), expired or "
    "revoked link (410), for downloads, range not satisfiable (416), or too many requests "
    "from this client (429, retry after Retry-After)"
)
_FILE_BODY = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
_DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The whole file, with its own media type", "content": _FILE_BODY},
    206: {"description": "One byte range of the file", "content": _FILE_BODY},
    304: {"description": "Not modified (If-None-Match matched)"},
    **_ERRORS,
}


def create_app(
    services: Server,
    status_of: Callable[[], dict[str, Any]],
    files: FileSource | None = None,
) -> FastAPI:
    """The app over `files` (the services' Telegram files unless given: tests pass their own).

    `status_of` renders /status: the wiring's numbers, which the web layer only shows.
    """
    source: FileSource = services.files if files is None else files
    # One media for the watch page and the HLS routes: they share probes and their memory.
    media = services.media.over(source)
    app = FastAPI(title="tgstream", version="0.1.0", docs_url=None, redoc_url=None)
    # Starlette's slash redirects build their target from the request's Host header, which
    # anyone can set: no route here needs them.
    app.router.redirect_slashes = False
    install_error_handlers(app, services.metrics, services.settings.frame_ancestors)
    app.add_middleware(CountResponses, responses=services.metrics.responses)

    @app.get("/", response_model=None, response_class=Response, responses=_LANDING)
    async def landing(request: Request) -> Response:
        """Whether the service is up, and where its bot is: a page for a browser, else JSON."""
        main = services.bots[0] if services.bots else None
        username = main.username if main is not None else None
        headers = {**pages.page_headers(services.settings.frame_ancestors), "Vary": "Accept"}
        if pages.prefers_html(request.headers.get("accept")):
            page = pages.landing_page(username, services.started)
            return HTMLResponse(page, headers=headers)
        return JSONResponse(
            {
                "ok": True,
                "ready": services.started,
                # The bot's name is known once it has signed in.
                "status": "ready" if services.started else "starting",
                "bot": username,
                "bot_url": f"https://t.me/{username}" if username else None,
            },
            headers=headers,
        )

    abuse = AbuseLimits.from_settings(services.settings, services.metrics)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        # Alive as soon as it listens: start-up waits (a flood on sign-in) are not a crash.
        return {"ok": True, "ready": services.started}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """200 once every bot is signed in; 503 with what start-up still waits for."""
        if services.started:
            return JSONResponse({"ready": True})
        return JSONResponse(
            {"ready": False, "waiting_for": [b.state for b in services.bots if not b.ready]},
            status_code=503,
        )

    @app.get("/status")
    async def status() -> dict[str, Any]:
        return status_of()

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get(
        WATCH_PATH,
        response_class=HTMLResponse,
        responses=_ERRORS,
        dependencies=[Depends(abuse.admit_page)],
    )
    async def watch_page(
        message_id: MessageId, file_name: str, sig: Sig = "", exp: Exp = None
    ) -> Response:
        await download.check_link(
            message_id, sig, exp, services.secret, services.revocations, services.metrics
        )
        async with FirstByteClock(services.settings.first_byte_deadline).guard():
            resolved = await source.resolve(message_id)
        # The page's download link ends when the page's link does.
        ends = None if exp is None else int(exp)
        path = links.download_path(message_id, resolved.file_name, services.secret, ends)
        absolute = links.public_url(services.settings.public_url, path)
        # With a probe the page lets the browser pick: the file, or its HLS stream (signed
        # as the download link is, ending when it ends).
        probe = await page_probe(media.probes, resolved)
        hls_url = None if probe is None else f"/hls/{message_id}/index.m3u8?{path.split('?')[1]}"
        # Its poster, link-preview tags and player links, signed as the page's link.
        page = page_links(resolved, services.secret, ends, services.settings.public_url)
        return HTMLResponse(
            watch.render(resolved, path, absolute, probe, hls_url, page),
            headers=pages.page_headers(services.settings.frame_ancestors),
        )

    # Two registrations rather than one GET+HEAD route: each method gets its own operation id.
    @app.get(
        DL_PATH,
        operation_id="download",
        response_class=Response,
        responses=_DOWNLOAD_RESPONSES,
        dependencies=[Depends(abuse.admit_download)],
    )
    @app.head(
        DL_PATH,
        operation_id="download_head",
        response_class=Response,
        responses=_DOWNLOAD_RESPONSES,
        dependencies=[Depends(abuse.admit_download)],
    )
    async def dl(
        message_id: MessageId,
        file_name: str,
        sig: Sig = "",
        exp: Exp = None,
        download_: Annotated[bool, Query(alias="download")] = False,
    ) -> Response:
        await download.check_link(
            message_id, sig, exp, services.secret, services.revocations, services.metrics
        )
        deadline = services.settings.first_byte_deadline
        return await download.serve(source, services.metrics, deadline, message_id, download_)

    # HLS reads through the same source as the rest of the app (tests give their own).
    hls.add_routes(app, services, source, abuse, media)
    internal.add_routes(app, services.secret, services.backfill_index)
    # The file's thumbnail and its M3U playlist, signed and limited as the page is.
    add_thumb_routes(
        app,
        source,
        services.secret,
        services.revocations,
        services.metrics,
        services.settings.first_byte_deadline,
        services.settings.public_url,
        abuse.admit_page,
    )
    settings = services.settings
    if settings.dav_users:
        # Every method reaches the view (methods=None): it answers writes 405 itself.
        view = DavView(
            settings.dav_users,
            services.store,
            source,
            services.metrics,
            settings.first_byte_deadline,
        )
        for path in (DAV_BASE, DAV_BASE + "/{rest:path}"):
            app.router.routes.append(Route(path, view, methods=None, include_in_schema=False))
    answer_head_wherever_get(app)
    return app
