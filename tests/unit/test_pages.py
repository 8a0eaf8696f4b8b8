"""Pages for people, in-process: which clients get HTML (content negotiation), that an
error's page and its JSON carry the same status and headers for every status (the app's
own, and an HTTPException raised anywhere, like 410 and 429), the landing page, and the
watch page's player buttons, file card and escaping."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from pyrogram import types
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from tests.support.memory_files import PIECE, MemoryFiles, file_info
from tests.support.web_app import app_over, client_of, settings_for
from tgstream import links
from tgstream.service import Services
from tgstream.telegram.errors import FileGone, TelegramUnavailable
from tgstream.web import pages, watch
from tgstream.web.errors import error_response_for

DATA = os.urandom(2 * PIECE + 3)
CHROME = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
SAFARI = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CURL = "*/*"
HOSTILE = '<script>alert("x")</script> & "quotes" \'single\'.mp4'

# --- content negotiation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (CHROME, True),
        (FIREFOX, True),
        (SAFARI, True),
        ("text/html", True),
        ("TEXT/HTML", True),  # media types are case-insensitive
        ("text/*", True),
        ("text/html;level=1", True),
        ("text/html, application/json;q=0.9", True),
        ("application/json;q=0.5, text/html;q=0.6", True),
        ("text/html;q=0.001", True),
        # everyone else keeps JSON
        (None, False),
        ("", False),
        (CURL, False),  # curl, wget, players, scripts: a tie is JSON
        ("*/*;q=0.8", False),
        ("application/json", False),
        ("application/json, text/html", False),  # a tie
        ("text/html;q=0.5, application/json", False),
        ("text/html;q=0", False),
        ("text/html;q=0.000", False),
        ("text/*;q=0.5, application/*", False),
        ("application/json, text/*;q=0.9", False),
        ("text/plain", False),
        ("image/webp,*/*", False),  # an <img> loading an error
        ("video/*;q=0.9,*/*;q=0.8", False),
        # malformed elements are skipped, the rest still counts
        ("text/html;q=2", False),
        ("text/html;q=0.5.5", False),
        ("text/html;q=abc, */*", False),
        ("html", False),
        ("text/html/x", False),
        ("garbage, text/html", True),
        (",,text/html,,", True),
        ("\x00text/html", False),
        ("*/*;q=0.1, text/html;q=0.2, application/json;q=0.1", True),
        # the most specific range decides, not the highest q
        ("text/html;q=0.1, text/*;q=1, */*;q=1", False),
        ("application/json;q=0.1, */*;q=1, text/html;q=0.5", True),
    ],
)
def test_who_gets_a_page(accept: str | None, html: bool) -> None:
    assert pages.prefers_html(accept) is html


# --- error pages, for any status ---------------------------------------------------------


@pytest.mark.parametrize("status", [400, 403, 404, 405, 410, 416, 429, 500, 502, 503, 599])
def test_every_status_has_a_page(status: int) -> None:
    page = pages.error_page(status, "some detail")
    assert page.startswith("<!doctype html>") and f">{status}<" in page
    assert "/static/watch.css" in page and "<script" not in page and "style=" not in page


def test_a_page_escapes_what_it_repeats_and_says_when_to_retry() -> None:
    page = pages.error_page(404, HOSTILE)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&quot;quotes&quot;" in page
    assert "File not found" in page
    assert "Try again in 7 seconds." in pages.error_page(503, "busy", "7")
    assert "Try again in a moment." in pages.error_page(429, "slow", "1")
    assert "Try again in about 47 minutes." in pages.error_page(503, "flood", "2810")
    assert "Try again" not in pages.error_page(503, "busy", "soon")
    assert "Try again" not in pages.error_page(503, "busy")


async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app) as client:
        yield client


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    settings = settings_for(
        tmp_path,
        public_url="https://files.example.org/base",
        frame_ancestors="https://embed.example.org",
    )
    built = Services.build(settings)
    try:
        yield built
    finally:
        await built.store.close()


@pytest.fixture
def files() -> MemoryFiles:
    memory = MemoryFiles()
    memory.add(file_info(1, len(DATA)), DATA)
    memory.add(file_info(2, 10, "application/zip", HOSTILE), b"0123456789")
    memory.add(file_info(3, 10, "audio/ogg", "note.ogg"), b"0123456789")
    memory.add(file_info(4, 10, "image/jpeg", "photo-4.jpg"), b"0123456789")
    return memory


@pytest.fixture
async def web(services: Services, files: MemoryFiles) -> FastAPI:
    app = app_over(services, files)

    # What the owner's and the limits' parts raise: an HTTPException from a route.
    @app.get("/raise/{status}")
    async def raise_status(status: int) -> None:
        raise HTTPException(status, f"status {status} <b>raised</b>", {"Retry-After": "30"})

    return app


@pytest.fixture
async def client(web: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async for made in _client(web):
        yield made


def _same_but_body(
    page: httpx.Response, data: httpx.Response, frame_ancestors: str = "https://embed.example.org"
) -> None:
    """The page and the JSON answer differ in body and its type only."""
    assert page.status_code == data.status_code
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert data.headers["content-type"] == "application/json"
    different = {"content-type", "content-length"}
    assert {k: v for k, v in page.headers.items() if k not in different} == {
        k: v for k, v in data.headers.items() if k not in different
    }
    assert page.headers["vary"] == "Accept"
    csp = page.headers["content-security-policy"]
    assert f"frame-ancestors {frame_ancestors}" in csp and "script-src 'self'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.text.startswith("<!doctype html>") and "/static/watch.css" in page.text
    assert set(data.json()) == {"error"}


@pytest.mark.parametrize("status", [403, 404, 410, 416, 429, 503, 400, 500, 502, 418])
async def test_a_raised_status_gets_a_page_or_json(client: httpx.AsyncClient, status: int) -> None:
    page = await client.get(f"/raise/{status}", headers={"Accept": CHROME})
    data = await client.get(f"/raise/{status}", headers={"Accept": CURL})
    _same_but_body(page, data)
    assert page.status_code == status and page.headers["retry-after"] == "30"
    assert data.json() == {"error": f"status {status} <b>raised</b>"}
    assert "<b>raised</b>" not in page.text and "&lt;b&gt;raised&lt;/b&gt;" in page.text
    assert "Try again in 30 seconds." in page.text


def _dl(services: Services, message_id: int = 1, name: str = "clip.mp4") -> str:
    return links.download_path(message_id, name, services.secret)


async def test_the_apps_own_errors_get_pages(
    client: httpx.AsyncClient, services: Services, files: MemoryFiles
) -> None:
    forged = _dl(services).replace("sig=", "sig=x")
    watch_forged = links.watch_path(1, "clip.mp4", services.secret).replace("sig=", "sig=x")
    for path, status, title in (
        (forged, 403, "This link is not valid"),
        (watch_forged, 403, "This link is not valid"),
        ("/nothing/here", 404, "File not found"),
        ("/dl/0/x?sig=abc", 400, "This link is malformed"),
    ):
        page = await client.get(path, headers={"Accept": FIREFOX})
        data = await client.get(path)
        _same_but_body(page, data)
        assert page.status_code == status and title in page.text, path
    # 416: the file's own headers are kept, its Content-Disposition is not the page's.
    ranged = {"Range": f"bytes={len(DATA)}-"}
    page = await client.get(_dl(services), headers={**ranged, "Accept": CHROME})
    data = await client.get(_dl(services), headers=ranged)
    _same_but_body(page, data)
    assert page.status_code == 416 and page.headers["content-range"] == f"bytes */{len(DATA)}"
    assert "etag" in page.headers and "content-disposition" not in page.headers
    # Raised by the Telegram side: 404 for a deleted file, 503 with Retry-After when busy.
    for error, status in ((FileGone("gone"), 404), (TelegramUnavailable("busy", 7), 503)):
        files.resolve_error = error
        page = await client.get(_dl(services), headers={"Accept": CHROME})
        data = await client.get(_dl(services), headers={"Accept": "application/json"})
        _same_but_body(page, data)
        assert page.status_code == status
    assert page.headers["retry-after"] == "7" and "Try again in 7 seconds." in page.text
    # HEAD: the same status and headers, no body.
    head = await client.head(_dl(services), headers={"Accept": CHROME})
    assert head.status_code == 503 and head.content == b""


# --- the landing page ----------------------------------------------------------------


async def test_landing_says_starting_until_the_bot_is_known(
    client: httpx.AsyncClient, services: Services
) -> None:
    data = await client.get("/")
    assert data.status_code == 200 and data.headers["content-type"] == "application/json"
    assert data.json() == {
        "ok": True,
        "ready": False,
        "status": "starting",
        "bot": None,
        "bot_url": None,
    }
    page = await client.get("/", headers={"Accept": CHROME})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "tgstream is up" in page.text and "The bot is starting" in page.text
    assert page.headers["vary"] == data.headers["vary"] == "Accept"
    assert "frame-ancestors" in page.headers["content-security-policy"]


async def test_landing_links_the_signed_in_bot(
    client: httpx.AsyncClient, services: Services
) -> None:
    # What Kurigram's start leaves on the client after sign-in (get_me), nothing mocked.
    main = services.bots[0]
    main.client.me = types.User(id=main.bot_id, is_bot=True, username="files_test_bot")
    main.ready = True
    data = (await client.get("/", headers={"Accept": CURL})).json()
    assert data["bot"] == "files_test_bot"
    assert data["bot_url"] == "https://t.me/files_test_bot"
    page = (await client.get("/", headers={"Accept": CHROME})).text
    assert 'href="https://t.me/files_test_bot"' in page and "@files_test_bot" in page


def test_landing_escapes_the_name() -> None:
    page = pages.landing_page('x"><script>', ready=True)
    assert "<script>" not in page and "&quot;&gt;&lt;script&gt;" in page


# --- the watch page ------------------------------------------------------------------

ABS = "https://files.example.org/base/dl/1/clip%20one.mp4?sig=abc-_"


def test_player_links_use_each_players_scheme() -> None:
    found = dict(watch.player_links(ABS, "clip one.mp4", "video/mp4"))
    assert found == {
        "VLC": f"vlc://{ABS}",
        "mpv": f"mpv://{ABS}",
        "MX Player": "intent://files.example.org/base/dl/1/clip%20one.mp4?sig=abc-_"
        "#Intent;scheme=https;type=video/mp4;package=com.mxtech.videoplayer.ad;"
        "S.title=clip%20one.mp4;end",
        "IINA": f"iina://weblink?url={quote(ABS, safe='')}",
    }
    assert found["IINA"].startswith("iina://weblink?url=https%3A%2F%2Ffiles.example.org%2F")
    # A type that is no type, or a name with the intent's separators, cannot add fields.
    mx = dict(watch.player_links(ABS, "a;end;b#c", "video/mp4;package=evil"))["MX Player"]
    assert ";type=video/mp4;package=com.mxtech" in mx and "S.title=a%3Bend%3Bb%23c;end" in mx
    assert mx.count(";end") == 1 and "evil" not in mx
    mx = dict(watch.player_links(ABS, "a", "video/#Intent;x=y"))["MX Player"]
    assert ";type=video/%23intent;" in mx and "x=y" not in mx and mx.count("#") == 1
    mx = dict(watch.player_links(ABS, "a", "not a type"))["MX Player"]
    assert ";type=application/octet-stream;" in mx


async def test_watch_page_for_a_video_has_players_and_saving_download(
    client: httpx.AsyncClient, services: Services
) -> None:
    page = await client.get(links.watch_path(1, "whatever.mp4", services.secret))
    assert page.status_code == 200
    text = page.text
    dl = _dl(services)  # named as the file is named, whatever the link's own name said
    absolute = links.public_url(services.settings.public_url, dl)
    assert "<video" in text and f'src="{dl.replace("&", "&amp;")}"' in text
    assert f'href="{dl}&amp;download=1" download="clip.mp4"' in text
    for label, url in watch.player_links(absolute, "clip.mp4", "video/mp4"):
        assert f'href="{url.replace("&", "&amp;")}" rel="noopener">{label}</a>' in text
    assert (
        page.headers["content-security-policy"]
        == pages.page_headers("https://embed.example.org")["Content-Security-Policy"]
    )
    saved = await client.get(dl + "&download=1")
    assert saved.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''clip.mp4" in saved.headers["content-disposition"]
    played = await client.get(dl)
    assert played.headers["content-disposition"].startswith("inline;")


async def test_watch_page_for_audio_image_and_other_files(
    client: httpx.AsyncClient, services: Services
) -> None:
    audio = (await client.get(links.watch_path(3, "n", services.secret))).text
    assert "<audio" in audio and "vlc://" in audio and "type=audio/ogg" in audio
    image = (await client.get(links.watch_path(4, "p", services.secret))).text
    assert "<img" in image and "vlc://" not in image
    other = (await client.get(links.watch_path(2, "x", services.secret))).text
    # A card with an icon, the name, size and Download: no player, no black box.
    assert 'class="file-card"' in other and 'class="file-icon"' in other
    assert "<video" not in other and 'class="player"' not in other and "vlc://" not in other
    assert "10 B" in other and ">Download</a>" in other
    assert "<script>alert" not in other and "&lt;script&gt;alert(&quot;x&quot;)" in other
    assert other.count("<script") == 1  # the page's own watch.js only


async def test_answers_made_outside_the_handlers_negotiate_too() -> None:
    """A middleware or an ASGI response (the limits part's 429, say) answers through
    error_response_for(scope, ...): the same two forms."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        answer = error_response_for(scope, 429, "slow down", {"Retry-After": "3", "vary": "X"})
        await answer(scope, receive, send)

    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://tgstream") as bare:
        page = await bare.get("/anything", headers={"Accept": SAFARI})
        data = await bare.get("/anything")
    _same_but_body(page, data, frame_ancestors="'self'")  # no app state: the default
    assert page.status_code == 429 and "Too many requests" in page.text
    assert "Try again in 3 seconds." in page.text and data.json() == {"error": "slow down"}
    assert page.headers.get_list("vary") == ["Accept"]
