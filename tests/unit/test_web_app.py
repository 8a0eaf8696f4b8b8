"""The FastAPI app in-process over an in-memory FileSource: signed links, and every failure
answered by the app's exception handlers with its status, Retry-After and JSON body."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.support.asgi import body_of, call
from tests.support.memory_files import PIECE, Failure, MemoryFiles, file_info, sha
from tests.support.web_app import app_over, client_of, settings_for
from tgstream import links
from tgstream.service import Services
from tgstream.telegram.errors import (
    FileGone,
    FloodWaitTooLong,
    TelegramUnavailable,
    UpstreamRejected,
)
from tgstream.web.response import StreamAborted

DATA = os.urandom(3 * PIECE + 7)
DEADLINE = 0.2


class App:
    def __init__(
        self, services: Services, files: MemoryFiles, web: FastAPI, client: httpx.AsyncClient
    ) -> None:
        self.services = services
        self.web = web
        self.files = files
        self.client = client

    def dl(self, message_id: int = 1, name: str = "clip.mp4") -> str:
        return links.download_path(message_id, name, self.services.secret)

    def watch(self, message_id: int = 1) -> str:
        return links.watch_path(message_id, "clip.mp4", self.services.secret)

    def sample(self, name: str, **labels: str) -> float:
        value = self.services.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    settings = settings_for(tmp_path, first_byte_deadline=DEADLINE)
    services = Services.build(settings)
    files = MemoryFiles()
    files.add(file_info(1, len(DATA)), DATA)
    web = app_over(services, files)
    try:
        async with client_of(web) as client:
            yield App(services, files, web, client)
    finally:
        await services.store.close()


def assert_error(response: httpx.Response, status: int, retry_after: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"error"} and response.json()["error"]
    assert response.headers.get("retry-after") == retry_after


async def test_signed_link_serves_the_file(app: App) -> None:
    response = await app.client.get(app.dl())
    assert response.status_code == 200 and sha(response.content) == sha(DATA)
    ranged = await app.client.get(app.dl(), headers={"Range": "bytes=5-"})
    assert ranged.status_code == 206 and sha(ranged.content) == sha(DATA[5:])
    head = await app.client.head(app.dl())
    assert head.status_code == 200 and head.headers["content-length"] == str(len(DATA))
    attached = await app.client.get(app.dl() + "&download=1")
    assert attached.headers["content-disposition"].startswith("attachment;")
    page = await app.client.get(app.watch())
    assert page.status_code == 200 and app.dl() in page.text


async def test_forged_links_and_bad_requests(app: App) -> None:
    forged = app.dl().replace("sig=", "sig=x")
    for method in ("GET", "HEAD"):
        response = await app.client.request(method, forged)
        assert response.status_code == 403
    assert (await app.client.get(forged)).json() == {"error": "invalid or forged link"}
    assert (await app.client.get(app.watch().replace("sig=", "sig=x"))).status_code == 403
    assert_error(await app.client.get("/dl/0/x?sig=abc"), 400)
    assert app.files.ranges == []


@pytest.mark.parametrize(
    ("error", "status", "retry_after", "message"),
    [
        (FileGone("deleted"), 404, None, "no such file"),
        (TelegramUnavailable("busy", 7.2), 503, "8", "Telegram is busy, retry later"),
        (FloodWaitTooLong("flood", 300), 503, "300", "Telegram is busy, retry later"),
        (UpstreamRejected("CHANNEL_PRIVATE"), 502, None, "Telegram refused the request"),
        (RuntimeError("a bug"), 500, None, "internal error"),
    ],
)
async def test_errors_before_headers_become_their_answers(
    app: App, error: Exception, status: int, retry_after: str | None, message: str
) -> None:
    # Resolving the file, and fetching its first piece: the same answer either way.
    app.files.resolve_error = error
    for response in (await app.client.get(app.dl()), await app.client.get(app.watch())):
        assert_error(response, status, retry_after)
        assert response.json() == {"error": message}
    app.files.resolve_error = None
    app.files.failure = Failure(error)
    response = await app.client.get(app.dl())
    assert_error(response, status, retry_after)
    assert response.json() == {"error": message}


async def test_first_byte_deadline_is_503_with_retry_after(app: App) -> None:
    app.files.resolve_delay = 10 * DEADLINE
    slow_resolve = await app.client.get(app.dl())
    assert_error(slow_resolve, 503, "5")
    late = f"Telegram did not answer within {DEADLINE:g} s, retry later"
    assert slow_resolve.json() == {"error": late}
    assert_error(await app.client.get(app.watch()), 503, "5")
    # The deadline spans resolving and the first piece: each alone fits, together not.
    app.files.resolve_delay = DEADLINE * 0.6
    app.files.first_piece_delay = DEADLINE * 0.6
    assert_error(await app.client.get(app.dl()), 503, "5")
    assert app.sample("tgstream_deadline_misses_total") == 3
    app.files.resolve_delay = app.files.first_piece_delay = 0
    assert (await app.client.get(app.dl())).status_code == 200


async def test_error_after_headers_aborts_the_body(app: App) -> None:
    app.files.failure = Failure(TelegramUnavailable("busy", 7), after=PIECE)
    path, query = app.dl().split("?")
    messages, error = await call(app.web, path, query=query)
    assert isinstance(error, StreamAborted)
    start = messages[0]
    assert start["type"] == "http.response.start" and start["status"] == 200
    assert (b"content-length", str(len(DATA)).encode()) in start["headers"]
    # No end of body: the server drops the connection, never a short body that looks whole.
    assert all(m.get("more_body") for m in messages[1:])
    assert body_of(messages) == DATA[:PIECE]
    assert app.sample("tgstream_streams_total", outcome="aborted") == 1
    assert app.sample("tgstream_deadline_misses_total") == 0
