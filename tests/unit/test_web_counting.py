"""tgstream_responses: every response the app sends counted once, by the route's template and
the status sent, with a bounded label set whatever paths arrive."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.memory_files import PIECE, Failure, MemoryFiles, file_info
from tests.support.web_app import app_over, client_of, settings_for
from tgstream import links
from tgstream.service import Services
from tgstream.status import Samples

DATA = os.urandom(2 * PIECE + 3)
DL = "/dl/{message_id}/{file_name}"
WATCH = "/watch/{message_id}/{file_name}"


class Counted:
    def __init__(self, services: Services, files: MemoryFiles, client: httpx.AsyncClient) -> None:
        self.services = services
        self.files = files
        self.client = client

    def dl(self, message_id: int = 1, name: str = "clip.mp4") -> str:
        return links.download_path(message_id, name, self.services.secret)

    def counts(self) -> dict[tuple[str, str], int]:
        rows = Samples(self.services.metrics.registry).rows("tgstream_responses_total")
        return {(labels["route"], labels["status"]): round(v) for labels, v in rows if v}


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Counted]:
    settings = settings_for(tmp_path, first_byte_deadline=0.5)
    services = Services.build(settings)
    files = MemoryFiles()
    files.add(file_info(1, len(DATA)), DATA)
    web = app_over(services, files)
    try:
        async with client_of(web) as client:
            yield Counted(services, files, client)
    finally:
        await services.store.close()


async def test_nothing_is_counted_before_a_request(app: Counted) -> None:
    assert app.counts() == {}


async def test_each_response_once_by_template_and_status(app: Counted) -> None:
    c = app.client
    assert (await c.get("/healthz")).status_code == 200
    assert (await c.get("/healthz")).status_code == 200
    assert (await c.get("/readyz")).status_code == 503  # no bot signed in here
    assert (await c.get(app.dl())).status_code == 200
    assert (await c.get(app.dl(), headers={"Range": "bytes=0-9"})).status_code == 206
    assert (await c.head(app.dl())).status_code == 200
    assert (await c.get(app.dl(), headers={"Range": "bytes=999999-"})).status_code == 416
    assert (await c.get(app.dl() + "x")).status_code == 403  # a forged signature
    assert (await c.get(links.watch_path(1, "clip.mp4", app.services.secret))).status_code == 200
    assert (await c.post("/healthz")).status_code == 405
    assert app.counts() == {
        ("/healthz", "200"): 2,
        ("/readyz", "503"): 1,
        (DL, "200"): 2,
        (DL, "206"): 1,
        (DL, "416"): 1,
        (DL, "403"): 1,
        (WATCH, "200"): 1,
        ("/healthz", "405"): 1,
    }


async def test_unknown_paths_are_one_label_however_many(app: Counted) -> None:
    for index in range(20):
        response = await app.client.get(f"/nothing-{index}/here?sig={index}")
        assert response.status_code == 404
    assert app.counts() == {("other", "404"): 20}


async def test_many_links_make_one_series_per_status(app: Counted) -> None:
    for message_id in range(1, 30):
        name = f"file {message_id}.bin"
        await app.client.get(app.dl(message_id, name))
    routes = {route for route, _ in app.counts()}
    assert routes == {DL}
    assert sum(app.counts().values()) == 29


async def test_a_failure_before_the_status_line_is_counted_as_sent(app: Counted) -> None:
    app.files.failure = Failure(RuntimeError("a bug"))
    assert (await app.client.get(app.dl())).status_code == 500
    app.files.failure = None
    app.files.resolve_error = KeyError("unexpected")
    assert (await app.client.get(app.dl())).status_code == 500
    assert app.counts() == {(DL, "500"): 2}


async def test_a_body_cut_after_the_status_line_counts_its_status(app: Counted) -> None:
    app.files.failure = Failure(RuntimeError("lost"), after=PIECE)
    response = await app.client.get(app.dl())
    assert response.status_code == 200 and len(response.content) < len(DATA)
    assert app.counts() == {(DL, "200"): 1}
    streams = Samples(app.services.metrics.registry).rows("tgstream_streams_total")
    assert {labels["outcome"]: round(v) for labels, v in streams} == {"aborted": 1}


async def test_the_metrics_page_shows_the_counts(app: Counted) -> None:
    await app.client.get("/healthz")
    text = (await app.client.get("/metrics")).text
    assert 'tgstream_responses_total{route="/healthz",status="200"} 1.0' in text
