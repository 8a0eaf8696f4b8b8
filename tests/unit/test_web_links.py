"""Links that end and links revoked, through the app in-process: 410 after the end or a
revoke, 403 for anything forged, each counted by reason, and none of them resolved."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.memory_files import MemoryFiles, file_info
from tests.support.web_app import app_over, client_of, settings_for
from tgstream import links
from tgstream.service import Services

DATA = os.urandom(5000)


class App:
    def __init__(self, services: Services, files: MemoryFiles, client: httpx.AsyncClient) -> None:
        self.services = services
        self.files = files
        self.client = client

    def refusals(self, reason: str) -> float:
        registry = self.services.metrics.registry
        value = registry.get_sample_value("tgstream_link_refusals_total", {"reason": reason})
        return 0.0 if value is None else value

    async def all_three(self, message_id: int, expires: int | None) -> list[int]:
        """Status of GET and HEAD of the download link and GET of the watch page."""
        secret = self.services.secret
        dl = links.download_path(message_id, "clip.mp4", secret, expires)
        watch = links.watch_path(message_id, "clip.mp4", secret, expires)
        return [
            (await self.client.get(dl)).status_code,
            (await self.client.head(dl)).status_code,
            (await self.client.get(watch)).status_code,
        ]


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    settings = settings_for(tmp_path)
    services = Services.build(settings)
    files = MemoryFiles()
    files.add(file_info(1, len(DATA)), DATA)
    web = app_over(services, files)
    try:
        async with client_of(web) as client:
            yield App(services, files, client)
    finally:
        await services.store.close()


async def test_a_link_that_ends_serves_until_then_and_410_after(app: App) -> None:
    assert await app.all_three(1, int(time.time()) + 3600) == [200, 200, 200]
    app.files.resolve_error = AssertionError("an expired link must not be resolved")
    assert await app.all_three(1, int(time.time()) - 1) == [410, 410, 410]
    assert app.refusals("expired") == 3
    secret = app.services.secret
    answer = await app.client.get(links.download_path(1, "x", secret, 5))
    assert answer.json() == {"error": "this link has expired"}
    assert answer.headers["content-type"] == "application/json"


async def test_the_watch_page_download_link_ends_with_it(app: App) -> None:
    ends = int(time.time()) + 3600
    page = await app.client.get(links.watch_path(1, "clip.mp4", app.services.secret, ends))
    assert f"exp={ends}&amp;sig=" in page.text
    assert f"sig={links.sign(1, app.services.secret)}" not in page.text


@pytest.mark.parametrize(
    "query",
    [
        "exp=99999999999",  # a later end, with the old signature
        "exp=0",
        "exp=abc",
        "exp=" + "9" * 150,
        "exp=",
        "",  # the end dropped: the link must not become endless
    ],
)
async def test_a_tampered_end_is_forged(app: App, query: str) -> None:
    app.files.resolve_error = AssertionError("a forged link must not be resolved")
    ends = int(time.time()) + 60
    sig = links.sign_expiring(1, ends, app.services.secret)
    for path in ("/dl/1/a", "/watch/1/a"):
        answer = await app.client.get(f"{path}?{query}&sig={sig}")
        assert answer.status_code == 403, (path, query)
        assert answer.json() == {"error": "invalid or forged link"}
    assert app.refusals("forged") == 2


async def test_revoked_then_restored(app: App) -> None:
    assert await app.all_three(1, None) == [200, 200, 200]
    await app.services.revocations.set(1, True)
    app.files.resolve_error = AssertionError("a revoked link must not be resolved")
    ends = int(time.time()) + 60
    assert await app.all_three(1, None) == [410, 410, 410]
    assert await app.all_three(1, ends) == [410, 410, 410]
    assert app.refusals("revoked") == 6
    answer = await app.client.get(links.download_path(1, "x", app.services.secret))
    assert answer.json() == {"error": "this link was revoked by the owner"}
    await app.services.revocations.set(1, False)
    app.files.resolve_error = None
    assert await app.all_three(1, None) == [200, 200, 200]
