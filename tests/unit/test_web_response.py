"""TelegramFileResponse in-process, over an in-memory FileSource: what each request gets
(status, headers, hashed body), and what goes out on the wire when the source fails."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from email.utils import formatdate

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.asgi import body_of, call
from tests.support.memory_files import PIECE, Failure, MemoryFiles, file_info, sha
from tgstream.metrics import Metrics
from tgstream.telegram.errors import TelegramUnavailable
from tgstream.web.conditional import etag_of, last_modified_of
from tgstream.web.deadline import DeadlineMissed, FirstByteClock
from tgstream.web.response import StreamAborted, TelegramFileResponse

SIZE = 5 * PIECE + 123
DATA = os.urandom(SIZE)
EMPTY_ID, HTML_ID, SHORT_ID = 2, 3, 4
SHORT_DATA = os.urandom(2 * PIECE + 5)


class Site:
    def __init__(self) -> None:
        self.files = MemoryFiles()
        self.info = self.files.add(file_info(1, SIZE), DATA)
        self.files.add(file_info(EMPTY_ID, 0, file_name="empty.bin"), b"")
        page = b"<html><script>alert(1)</script></html>"
        self.files.add(file_info(HTML_ID, len(page), "text/html", "x.html"), page)
        # Declares more than Telegram has: the answer must use the real size.
        self.files.add(file_info(SHORT_ID, 3 * PIECE + 10), SHORT_DATA)
        self.metrics = Metrics()

        async def endpoint(request: Request) -> Response:
            info = await self.files.resolve(request.path_params["id"])
            asked = request.query_params.get("download") == "1"
            return TelegramFileResponse(info, self.files, metrics=self.metrics, attachment=asked)

        self.app = Starlette(routes=[Route("/f/{id:int}", endpoint, methods=["GET", "HEAD"])])

    def sample(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@pytest.fixture
def site() -> Site:
    return Site()


@pytest.fixture
async def client(site: Site) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=site.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tgstream") as client:
        yield client


# --- 200 and HEAD ----------------------------------------------------------------


async def test_full_get_sends_the_file_with_its_validators(
    site: Site, client: httpx.AsyncClient
) -> None:
    response = await client.get("/f/1")
    assert response.status_code == 200
    assert sha(response.content) == sha(DATA)
    h = response.headers
    assert h["content-length"] == str(SIZE)
    assert h["content-type"] == "video/mp4"
    assert h["accept-ranges"] == "bytes"
    assert h["etag"] == etag_of(site.info)
    assert h["last-modified"] == last_modified_of(site.info)
    assert h["cache-control"] == "private, max-age=3600"
    assert h["x-content-type-options"] == "nosniff"
    assert h["content-security-policy"] == "sandbox"
    assert h["content-disposition"] == "inline; filename=\"clip.mp4\"; filename*=UTF-8''clip.mp4"
    assert "content-range" not in h
    assert site.files.ranges == [(0, SIZE - 1)] and site.files.closed == 1
    assert site.sample("tgstream_bytes_served_total") == SIZE
    assert site.sample("tgstream_streams_total", outcome="complete") == 1
    assert site.sample("tgstream_active_streams") == 0
    assert site.sample("tgstream_time_to_first_byte_seconds_count") == 1


async def test_head_has_the_headers_of_get_and_fetches_nothing(
    site: Site, client: httpx.AsyncClient
) -> None:
    for headers in ({}, {"Range": "bytes=100-199"}):
        head = await client.head("/f/1", headers=headers)
        get = await client.get("/f/1", headers=headers)
        assert head.status_code == get.status_code
        assert head.content == b""
        assert dict(head.headers) == dict(get.headers)
    assert len(site.files.ranges) == 2  # the two GETs only


async def test_download_and_active_types_are_attachments(client: httpx.AsyncClient) -> None:
    asked = await client.get("/f/1?download=1")
    assert asked.headers["content-disposition"].startswith("attachment;")
    page = await client.get(f"/f/{HTML_ID}")
    assert page.headers["content-disposition"].startswith("attachment;")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == "sandbox"


async def test_empty_file(site: Site, client: httpx.AsyncClient) -> None:
    response = await client.get(f"/f/{EMPTY_ID}")
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-length"] == "0"
    # The one satisfiable range of an empty file is a suffix; no Content-Range can say 0 bytes.
    suffix = await client.get(f"/f/{EMPTY_ID}", headers={"Range": "bytes=-5"})
    assert suffix.status_code == 200 and suffix.content == b""
    first = await client.get(f"/f/{EMPTY_ID}", headers={"Range": "bytes=0-0"})
    assert first.status_code == 416 and first.headers["content-range"] == "bytes */0"


# --- 206, 416 --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=10-19", 10, 19),
        (f"bytes={PIECE - 1}-{3 * PIECE}", PIECE - 1, 3 * PIECE),
        (f"bytes={SIZE - 1}-", SIZE - 1, SIZE - 1),
        ("bytes=100-", 100, SIZE - 1),
        (f"bytes=100-{10 * SIZE}", 100, SIZE - 1),
        ("bytes=-500", SIZE - 500, SIZE - 1),
        (f"bytes=-{SIZE + 1}", 0, SIZE - 1),
        ("BYTES=5-6", 5, 6),
        ("bytes=,5-6,", 5, 6),
    ],
)
async def test_single_range_is_206_and_byte_exact(
    site: Site, client: httpx.AsyncClient, header: str, start: int, end: int
) -> None:
    response = await client.get("/f/1", headers={"Range": header})
    assert response.status_code == 206
    assert sha(response.content) == sha(DATA[start : end + 1])
    assert response.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert site.files.ranges == [(start, end)]


async def test_only_a_request_without_a_range_is_read_ahead_as_a_download(
    site: Site, client: httpx.AsyncClient
) -> None:
    # A player always sends a Range (bytes=0- to start), to seek later; a download does not.
    await client.get("/f/1")
    await client.get("/f/1", headers={"Range": "bytes=0-"})
    await client.get("/f/1", headers={"Range": "bytes=10-20"})
    assert site.files.wholes == [True, False, False]


@pytest.mark.parametrize(
    "header", ["bytes=0-1,5-6", "bytes=0-1, 9999999-", "items=0-1", "bytes=5-2", "bytes=x-"]
)
async def test_several_or_invalid_ranges_get_the_whole_file(
    client: httpx.AsyncClient, header: str
) -> None:
    # No multipart/byteranges: RFC 9110 §14.2 lets a server answer any of these with 200.
    response = await client.get("/f/1", headers={"Range": header})
    assert response.status_code == 200 and sha(response.content) == sha(DATA)
    assert "content-range" not in response.headers


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE}-{SIZE + 5}", "bytes=-0"])
async def test_unsatisfiable_range_is_416_with_the_size(
    site: Site, client: httpx.AsyncClient, header: str
) -> None:
    response = await client.get("/f/1", headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{SIZE}"
    assert response.headers["content-type"] == "application/json"
    assert response.headers["etag"] == etag_of(site.info)
    assert json.loads(response.content) == {"error": "range not satisfiable"}
    assert site.files.ranges == []


# --- conditionals ----------------------------------------------------------------


async def test_if_none_match_is_304_before_any_range(site: Site, client: httpx.AsyncClient) -> None:
    etag = etag_of(site.info)
    for value in (etag, f'"x", W/{etag}', "*"):
        for extra in ({}, {"Range": "bytes=0-9"}, {"Range": f"bytes={SIZE}-"}):
            response = await client.get("/f/1", headers={"If-None-Match": value, **extra})
            assert response.status_code == 304 and response.content == b"", (value, extra)
            assert response.headers["etag"] == etag
            assert "content-length" not in response.headers
            assert "content-type" not in response.headers
    head = await client.head("/f/1", headers={"If-None-Match": etag})
    assert head.status_code == 304
    other = await client.get("/f/1", headers={"If-None-Match": '"other"'})
    assert other.status_code == 200 and sha(other.content) == sha(DATA)
    assert len(site.files.ranges) == 1


async def test_if_modified_since_is_304_unless_if_none_match_is_there(
    site: Site, client: httpx.AsyncClient
) -> None:
    modified, etag = last_modified_of(site.info), etag_of(site.info)
    later = formatdate(site.info.date + 3600, usegmt=True)
    earlier = formatdate(site.info.date - 1, usegmt=True)
    for value in (modified, later):
        for extra in ({}, {"Range": "bytes=0-9"}, {"Range": f"bytes={SIZE}-"}):
            response = await client.get("/f/1", headers={"If-Modified-Since": value, **extra})
            assert response.status_code == 304 and response.content == b"", (value, extra)
            assert response.headers["last-modified"] == modified
            assert response.headers["etag"] == etag
    head = await client.head("/f/1", headers={"If-Modified-Since": later})
    assert head.status_code == 304
    # Modified since, an invalid date, or an If-None-Match that does not match: the file.
    for headers in (
        {"If-Modified-Since": earlier},
        {"If-Modified-Since": "yesterday"},
        {"If-Modified-Since": later, "If-None-Match": '"other"'},
    ):
        response = await client.get("/f/1", headers=headers)
        assert response.status_code == 200 and sha(response.content) == sha(DATA), headers
    assert len(site.files.ranges) == 3


async def test_if_range_decides_between_206_and_200(site: Site, client: httpx.AsyncClient) -> None:
    etag, modified = etag_of(site.info), last_modified_of(site.info)
    for validator, status in (
        (etag, 206),
        (modified, 206),
        ('"stale"', 200),
        (f"W/{etag}", 200),
        ("Mon, 01 Jan 2001 00:00:00 GMT", 200),
    ):
        response = await client.get("/f/1", headers={"Range": "bytes=10-19", "If-Range": validator})
        assert response.status_code == status, validator
        expected = DATA[10:20] if status == 206 else DATA
        assert sha(response.content) == sha(expected)
    # If-Range without Range changes nothing.
    alone = await client.get("/f/1", headers={"If-Range": '"stale"'})
    assert alone.status_code == 200 and sha(alone.content) == sha(DATA)


# --- the body --------------------------------------------------------------------


async def test_body_goes_out_piece_by_piece(site: Site) -> None:
    messages, error = await call(site.app, "/f/1")
    assert error is None
    assert messages[0]["type"] == "http.response.start" and messages[0]["status"] == 200
    bodies = [m for m in messages if m["type"] == "http.response.body"]
    # One message per piece of the source, then the end of the body.
    assert [len(m["body"]) for m in bodies[:-1]] == [PIECE] * 5 + [123]
    assert bodies[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert sha(body_of(messages)) == sha(DATA)


async def test_file_shorter_than_declared_is_answered_with_its_real_size(
    site: Site, client: httpx.AsyncClient
) -> None:
    response = await client.get(f"/f/{SHORT_ID}")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(SHORT_DATA))
    assert sha(response.content) == sha(SHORT_DATA)
    assert response.headers["etag"] == etag_of(site.files.infos[SHORT_ID])
    # A range within the declared size but past the real end is now unsatisfiable.
    site.files.add(file_info(SHORT_ID, 3 * PIECE + 10), SHORT_DATA)
    past = await client.get(f"/f/{SHORT_ID}", headers={"Range": f"bytes={3 * PIECE}-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{len(SHORT_DATA)}"


async def test_failure_before_the_first_piece_sends_nothing(site: Site) -> None:
    site.files.failure = Failure(TelegramUnavailable("busy", 7))
    response = TelegramFileResponse(site.info, site.files, metrics=site.metrics)
    messages, error = await call(response, "/f/1")
    # Raised to the app's error handlers, nothing on the wire yet: still a proper answer.
    assert isinstance(error, TelegramUnavailable) and messages == []
    assert site.sample("tgstream_streams_total", outcome="aborted") == 0


async def test_failure_after_headers_aborts_the_body(site: Site) -> None:
    site.files.failure = Failure(TelegramUnavailable("busy", 7), after=2 * PIECE)
    messages, error = await call(site.app, "/f/1")
    assert isinstance(error, StreamAborted)
    assert messages[0]["type"] == "http.response.start" and messages[0]["status"] == 200
    # The body never ends: the server drops the connection instead of a short 200.
    assert all(m.get("more_body") for m in messages[1:])
    assert body_of(messages) == DATA[: 2 * PIECE]
    assert site.files.closed == 1
    assert site.sample("tgstream_streams_total", outcome="aborted") == 1
    assert site.sample("tgstream_bytes_served_total") == 2 * PIECE
    assert site.sample("tgstream_active_streams") == 0


async def test_first_byte_deadline_covers_the_first_piece() -> None:
    site = Site()
    site.files.first_piece_delay = 5
    clock = FirstByteClock(0.05)
    response = TelegramFileResponse(site.info, site.files, metrics=site.metrics, clock=clock)
    messages, error = await call(response, "/f/1")
    assert isinstance(error, DeadlineMissed) and messages == []
    assert site.files.closed == 1
    # HEAD needs no piece, so no deadline can be missed.
    response = TelegramFileResponse(site.info, site.files, metrics=site.metrics, clock=clock)
    messages, error = await call(response, "/f/1", method="HEAD")
    assert error is None and messages[0]["status"] == 200
