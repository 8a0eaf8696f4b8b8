"""The WebDAV view in-process, over an in-memory FileSource and a real SQLite index: what
each method answers, GET and HEAD being /dl's own answer (bytes, ranges, validators,
failures), and the view off when DAV_USERS is unset."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.memory_files import PIECE, MemoryFiles, file_info, sha
from tests.support.web_app import app_over, client_of, settings_for
from tgstream import links
from tgstream.config import Settings
from tgstream.service import Services
from tgstream.store import IndexEntry
from tgstream.telegram.errors import FileGone, TelegramUnavailable
from tgstream.web.internal import BACKFILL_PATH

DATA = os.urandom(3 * PIECE + 7)
POSTED = 1_796_200_000  # 2026-12
AUTH = ("alice", "s3:cret")


@dataclass
class Dav:
    services: Services
    files: MemoryFiles
    client: httpx.AsyncClient


def settings(tmp_path: Path, **extra: object) -> Settings:
    return settings_for(tmp_path, first_byte_deadline=0.5, **extra)


async def open_app(
    tmp_path: Path, **extra: object
) -> tuple[Services, MemoryFiles, httpx.AsyncClient]:
    services = Services.build(settings(tmp_path, **extra))
    files = MemoryFiles()
    web = app_over(services, files)
    return services, files, client_of(web)


@pytest.fixture
async def dav(tmp_path: Path) -> AsyncIterator[Dav]:
    services, files, client = await open_app(tmp_path, dav_users="alice:s3:cret,bob:x")
    for message_id, name, data in (
        (1, "clip.mp4", DATA),
        (2, "clip.mp4", b"second"),
        (3, "e", b""),
    ):
        info = files.add(file_info(message_id, len(data), file_name=name), data)
        await services.store.save_index_entry(IndexEntry.of(info, POSTED))
    try:
        async with client:
            yield Dav(services, files, client)
    finally:
        await services.store.close()


async def request(dav: Dav, method: str, path: str, **kwargs: object) -> httpx.Response:
    kwargs.setdefault("auth", AUTH)
    return await dav.client.request(method, path, **kwargs)  # type: ignore[arg-type]


async def test_options_and_every_write_method(dav: Dav) -> None:
    options = await request(dav, "OPTIONS", "/dav/")
    assert options.status_code == 200
    assert options.headers["dav"] == "1"
    assert options.headers["allow"] == "OPTIONS, PROPFIND, GET, HEAD"
    for method in ("PUT", "DELETE", "MKCOL", "COPY", "MOVE", "PROPPATCH", "LOCK", "UNLOCK", "POST"):
        for path in ("/dav/", "/dav/2026-12/clip.mp4", "/dav/2026-12/new.bin"):
            answer = await request(dav, method, path, content=b"x")
            assert answer.status_code == 405, (method, path)
            assert answer.headers["allow"] == "OPTIONS, PROPFIND, GET, HEAD"
    assert len(dav.files.ranges) == 0


async def test_wrong_or_missing_credentials_are_401(dav: Dav) -> None:
    for auth in (("alice", "s3"), ("bob", "s3:cret"), None):
        answer = await request(dav, "PROPFIND", "/dav/", auth=auth, headers={"Depth": "0"})
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == 'Basic realm="tgstream", charset="UTF-8"'
        assert "s3:cret" not in answer.text
    answer = await request(dav, "GET", "/dav/2026-12/clip.mp4", auth=None)
    assert answer.status_code == 401 and not dav.files.ranges


async def test_propfind_depths(dav: Dav) -> None:
    root = await request(dav, "PROPFIND", "/dav/", headers={"Depth": "1"})
    assert root.status_code == 207
    assert root.headers["content-type"] == "application/xml; charset=utf-8"
    assert re.findall(r"<D:href>([^<]*)<", root.text) == ["/dav/", "/dav/2026-12/"]
    month = await request(dav, "PROPFIND", "/dav/2026-12", headers={"Depth": "1"})
    hrefs = re.findall(r"<D:href>([^<]*)<", month.text)
    folder = "/dav/2026-12/"
    assert hrefs == [folder, f"{folder}clip%20%282%29.mp4", f"{folder}clip.mp4", f"{folder}e"]
    one = await request(dav, "PROPFIND", "/dav/2026-12/clip%20(2).mp4", headers={"Depth": "0"})
    assert re.findall(r"<D:href>([^<]*)<", one.text) == ["/dav/2026-12/clip%20%282%29.mp4"]
    assert "<D:getcontentlength>6</D:getcontentlength>" in one.text
    for depth in ("infinity", None):
        headers = {"Depth": depth} if depth else {}
        refused = await request(dav, "PROPFIND", "/dav/", headers=headers)
        assert refused.status_code == 403
        assert "<D:propfind-finite-depth />" in refused.text
    bad = await request(dav, "PROPFIND", "/dav/", headers={"Depth": "2"})
    assert bad.status_code == 400
    for path in ("/dav/2026-11/", "/dav/2026-12/nope", "/dav/x/", "/dav/2026-12/clip.mp4/x"):
        missing = await request(dav, "PROPFIND", path, headers={"Depth": "0"})
        assert missing.status_code == 404, path


async def test_propfind_bodies_are_bounded_and_checked(dav: Dav) -> None:
    headers = {"Depth": "0", "Content-Type": "application/xml"}
    prop = b'<propfind xmlns="DAV:"><prop><getetag/><foo xmlns="urn:x"/></prop></propfind>'
    named = await request(dav, "PROPFIND", "/dav/2026-12/clip.mp4", headers=headers, content=prop)
    assert named.status_code == 207 and "HTTP/1.1 404 Not Found" in named.text
    assert "getcontentlength" not in named.text
    for body in (b"<oops", b'<!DOCTYPE x [<!ENTITY a "b">]><propfind xmlns="DAV:"><allprop/>'):
        bad = await request(dav, "PROPFIND", "/dav/", headers=headers, content=body)
        assert bad.status_code == 400
        assert bad.headers["content-type"] == "application/json"
    huge = await request(dav, "PROPFIND", "/dav/", headers=headers, content=b" " * 70_000)
    assert huge.status_code == 413


async def test_get_and_head_are_the_dl_answer(dav: Dav) -> None:
    dl = links.download_path(1, "clip.mp4", dav.services.secret)
    for headers in ({}, {"Range": "bytes=5-"}, {"Range": f"bytes={PIECE - 3}-{PIECE + 3}"}):
        via_dav = await request(dav, "GET", "/dav/2026-12/clip.mp4", headers=headers)
        via_dl = await dav.client.get(dl, headers=headers)
        assert via_dav.status_code == via_dl.status_code in (200, 206)
        assert sha(via_dav.content) == sha(via_dl.content)
        for name in ("etag", "last-modified", "content-length", "content-range", "content-type"):
            assert via_dav.headers.get(name) == via_dl.headers.get(name), name
    head = await request(dav, "HEAD", "/dav/2026-12/clip.mp4")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(DATA))
    etag = head.headers["etag"]
    propfind = await request(dav, "PROPFIND", "/dav/2026-12/clip.mp4", headers={"Depth": "0"})
    assert f"<D:getetag>{etag}</D:getetag>" in propfind.text.replace("&quot;", '"')
    unchanged = await request(dav, "GET", "/dav/2026-12/clip.mp4", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    past_end = await request(
        dav, "GET", "/dav/2026-12/clip.mp4", headers={"Range": "bytes=9999999-"}
    )
    assert past_end.status_code == 416
    empty = await request(dav, "GET", "/dav/2026-12/e")
    assert empty.status_code == 200 and empty.content == b""


async def test_failures_are_answered_like_dl(dav: Dav) -> None:
    dav.files.resolve_error = TelegramUnavailable("busy", 7)
    busy = await request(dav, "GET", "/dav/2026-12/clip.mp4")
    assert busy.status_code == 503 and busy.headers["retry-after"] == "7"
    dav.files.resolve_error = FileGone("deleted")
    gone = await request(dav, "GET", "/dav/2026-12/clip.mp4")
    assert gone.status_code == 404


async def test_a_folder_fetched_by_a_browser_is_a_page_of_links(dav: Dav) -> None:
    page = await request(dav, "GET", "/dav/2026-12/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'href="/dav/2026-12/clip%20%282%29.mp4"' in page.text
    assert page.headers["content-security-policy"] == "default-src 'none'"


async def test_without_dav_users_there_is_no_view(tmp_path: Path) -> None:
    services, _, client = await open_app(tmp_path)
    try:
        async with client:
            for method in ("OPTIONS", "PROPFIND", "GET"):
                answer = await client.request(method, "/dav/", auth=AUTH)
                assert answer.status_code in (404, 405), method
                assert "dav" not in answer.headers
            assert (await client.get("/dav/", auth=AUTH)).status_code == 404
    finally:
        await services.store.close()


async def test_the_backfill_action_needs_the_token(dav: Dav) -> None:
    for headers in ({}, {"Authorization": "Bearer 00"}, {"Authorization": "Basic YTpi"}):
        answer = await dav.client.post(BACKFILL_PATH, headers=headers)
        assert answer.status_code == 404


def test_the_backfill_command_says_when_no_server_answers(tmp_path: Path) -> None:
    from tests.support.processes import free_port
    from tgstream.index_cli import BackfillFailed, backfill_index

    quiet = settings(tmp_path, bind_address="127.0.0.1", port=free_port())
    with pytest.raises(BackfillFailed) as failed:
        backfill_index(quiet, 1000)
    assert "needs the running server" in str(failed.value)
    assert f"127.0.0.1:{quiet.port}" in str(failed.value)
