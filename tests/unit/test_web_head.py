"""HEAD wherever GET is (RFC 9110 section 9.1): every GET route has a HEAD twin, which
answers with the status and headers GET sends; anything else still answers 405."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from tests.support.memory_files import MemoryFiles, file_info
from tests.support.web_app import app_over, client_of, settings_for
from tgstream import links
from tgstream.service import Services

DATA = os.urandom(3000)


class Site:
    def __init__(self, services: Services, web: FastAPI, client: httpx.AsyncClient) -> None:
        self.services = services
        self.web = web
        self.client = client


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    services = Services.build(settings_for(tmp_path, dav_users="ann:secret"))
    files = MemoryFiles()
    files.add(file_info(1, len(DATA)), DATA)
    web = app_over(services, files)
    try:
        async with client_of(web) as client:
            yield Site(services, web, client)
    finally:
        await services.store.close()


def test_every_get_route_has_a_head_route(site: Site) -> None:
    routes = [r for r in site.web.router.routes if isinstance(r, APIRoute)]
    gets = {r.path for r in routes if "GET" in (r.methods or ())}
    heads = {r.path for r in routes if "HEAD" in (r.methods or ())}
    assert gets and gets <= heads


def test_the_twins_stay_out_of_the_schema(site: Site) -> None:
    schema = site.web.openapi()["paths"]
    assert "head" not in schema["/"] and "head" not in schema["/healthz"]
    # The download link's HEAD is documented as its own operation, as before.
    assert schema["/dl/{message_id}/{file_name}"]["head"]["operationId"] == "download_head"


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/", "text/html"),
        ("/", "application/json"),
        ("/healthz", None),
        ("/readyz", None),
        ("/status", None),
        ("/metrics", None),
        ("watch", "text/html"),
        ("watch-forged", "text/html"),
        ("dl", None),
    ],
)
async def test_head_answers_as_get_does(site: Site, path: str, accept: str | None) -> None:
    secret = site.services.secret
    if path == "watch":
        path = links.watch_path(1, "clip.mp4", secret)
    elif path == "watch-forged":
        path = links.watch_path(1, "clip.mp4", secret) + "x"
    elif path == "dl":
        path = links.download_path(1, "clip.mp4", secret)
    headers = {} if accept is None else {"Accept": accept}
    got = await site.client.get(path, headers=headers)
    head = await site.client.head(path, headers=headers)
    assert head.status_code == got.status_code != 405
    skip = {"date", "content-length"}
    assert {k: v for k, v in head.headers.items() if k not in skip} == {
        k: v for k, v in got.headers.items() if k not in skip
    }


async def test_other_methods_are_still_refused(site: Site) -> None:
    for method in ("POST", "PUT", "DELETE"):
        answer = await site.client.request(method, "/healthz")
        assert answer.status_code == 405
        assert set(answer.headers["allow"].split(", ")) == {"GET", "HEAD"}
