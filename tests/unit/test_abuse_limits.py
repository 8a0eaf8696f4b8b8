"""RATE_LIMIT and MAX_STREAMS_PER_IP in-process: 429 with Retry-After and a JSON error past
either, each refusal counted, X-Forwarded-For read only from TRUSTED_PROXIES, a stream slot
given back however its response ends, and the limiter's memory bounded by recent clients."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from limits import parse as parse_limit
from starlette.requests import ClientDisconnect

from tests.support.memory_files import PIECE, Failure, MemoryFiles, file_info, sha
from tests.support.web_app import app_over, settings_for
from tgstream import links
from tgstream.config import ConfigError, Settings, load_settings
from tgstream.metrics import Metrics
from tgstream.service import Services
from tgstream.telegram.errors import FileGone, TelegramUnavailable
from tgstream.web.abuse import STREAMS_RETRY_AFTER, AbuseLimits, TooManyRequests

DATA = os.urandom(4 * PIECE)
Send = Callable[[dict[str, Any]], Awaitable[None]]


class App:
    def __init__(self, services: Services, files: MemoryFiles, web: FastAPI) -> None:
        self.services = services
        self.files = files
        self.web = web

    def dl(self) -> str:
        return links.download_path(1, "clip.mp4", self.services.secret)

    def watch(self) -> str:
        return links.watch_path(1, "clip.mp4", self.services.secret)

    def client(self, peer: str = "198.51.100.1") -> httpx.AsyncClient:
        """A client whose TCP peer address is `peer`."""
        transport = httpx.ASGITransport(app=self.web, client=(peer, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://tgstream")

    def refusals(self) -> float:
        value = self.services.metrics.registry.get_sample_value(
            "tgstream_link_refusals_total", {"reason": "rate-limited"}
        )
        return 0.0 if value is None else value

    async def raw(
        self, send: Send, method: str = "GET", peer: str = "198.51.100.1"
    ) -> BaseException | None:
        """One request at the ASGI level with `send` as the server's side of the socket;
        what the app raised (after the status line: a connection the server drops)."""
        path, query = self.dl().split("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [],
            "client": (peer, 40001),
            "server": ("tgstream", 80),
        }
        asked = False

        async def receive() -> dict[str, Any]:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        try:
            await self.web(scope, receive, send)
        except Exception as exc:
            return exc
        return None


@pytest.fixture
async def make_app(tmp_path: Path) -> AsyncIterator[Callable[..., App]]:
    built: list[Services] = []

    def make(**limits: Any) -> App:
        settings = settings_for(tmp_path / str(len(built)), **limits)
        services = Services.build(settings)
        built.append(services)
        files = MemoryFiles()
        files.add(file_info(1, len(DATA)), DATA)
        return App(services, files, app_over(services, files))

    yield make
    for services in built:
        await services.store.close()


def assert_429(response: httpx.Response, most: int) -> int:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/json"
    if response.request.method != "HEAD":
        assert set(response.json()) == {"error"} and response.json()["error"]
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= most
    return retry_after


async def test_without_limits_nothing_is_refused(make_app: Callable[..., App]) -> None:
    app = make_app()
    async with app.client() as client:
        for _ in range(40):
            assert (await client.get(app.dl())).status_code == 200
            assert (await client.head(app.dl())).status_code == 200
            assert (await client.get(app.watch())).status_code == 200
    assert app.refusals() == 0


async def test_past_the_rate_limit_each_request_is_429_until_the_window_ends(
    make_app: Callable[..., App],
) -> None:
    app = make_app(rate_limit="4/minute")
    async with app.client() as client:
        # GET, HEAD and the watch page all count.
        assert (await client.get(app.dl())).status_code == 200
        assert (await client.head(app.dl())).status_code == 200
        assert (await client.get(app.watch())).status_code == 200
        assert (await client.get(app.dl(), headers={"Range": "bytes=0-9"})).status_code == 206
        for method, path in (("GET", app.dl()), ("HEAD", app.dl()), ("GET", app.watch())):
            assert_429(await client.request(method, path), 60)
        # Even a forged link is refused for the rate before it is looked at.
        assert (await client.get(app.dl().replace("sig=", "sig=x"))).status_code == 429
    assert app.refusals() == 4
    # Other endpoints are not limited, nor other clients.
    async with app.client() as client:
        assert (await client.get("/healthz")).status_code == 200
    async with app.client("198.51.100.2") as other:
        response = await other.get(app.dl())
        assert response.status_code == 200 and sha(response.content) == sha(DATA)


async def test_retry_after_is_when_the_window_ends(make_app: Callable[..., App]) -> None:
    app = make_app(rate_limit="2/2 seconds")
    async with app.client() as client:
        started = time.monotonic()
        assert (await client.get(app.dl())).status_code == 200
        assert (await client.get(app.dl())).status_code == 200
        retry_after = assert_429(await client.get(app.dl()), 2)
        # Refusals do not move the window on: the wait told is the wait.
        await asyncio.sleep(max(0.0, started + retry_after - time.monotonic()) + 0.05)
        assert (await client.get(app.dl())).status_code == 200


async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    make_app: Callable[..., App],
) -> None:
    app = make_app(rate_limit="3/minute", trusted_proxies="127.0.0.1,10.0.0.0/8")
    async with app.client("198.51.100.1") as client:
        for n in range(3):
            spoofed = {"X-Forwarded-For": f"203.0.113.{n}"}
            assert (await client.get(app.dl(), headers=spoofed)).status_code == 200
        assert_429(await client.get(app.dl(), headers={"X-Forwarded-For": "203.0.113.9"}), 60)


async def test_a_trusted_proxy_is_believed_about_its_clients(
    make_app: Callable[..., App],
) -> None:
    app = make_app(rate_limit="2/minute", trusted_proxies="127.0.0.1,10.0.0.0/8")
    async with app.client("127.0.0.1") as proxy:
        for n in range(4):
            # Two proxies, the client's own claim on the left: the first untrusted hop counts.
            headers = {"X-Forwarded-For": f"192.0.2.99, 203.0.113.{n}, 10.1.1.1"}
            assert (await proxy.get(app.dl(), headers=headers)).status_code == 200
            assert (await proxy.head(app.dl(), headers=headers)).status_code == 200
            assert_429(await proxy.get(app.dl(), headers=headers), 60)
        # A malformed header: the proxy itself is the client, with a limit of its own.
        for _ in range(2):
            bad = {"X-Forwarded-For": "203.0.113.1:4000"}
            assert (await proxy.get(app.dl(), headers=bad)).status_code == 200
        assert_429(await proxy.get(app.dl()), 60)
    # IPv6 clients are counted by their /64.
    app = make_app(rate_limit="2/minute")
    for peer in ("2001:db8:1:2::1", "2001:db8:1:2::ffff"):
        async with app.client(peer) as client:
            assert (await client.get(app.dl())).status_code == 200
    async with app.client("2001:db8:1:2::77") as client:
        assert_429(await client.get(app.dl()), 60)
    async with app.client("2001:db8:1:3::1") as client:
        assert (await client.get(app.dl())).status_code == 200


class SlowViewer:
    """The server's side of a socket whose viewer takes the first body piece and then reads
    nothing until let go (or leaves, when `leave` is set)."""

    def __init__(self, leave: bool = False) -> None:
        self.status: int | None = None
        self.body = b""
        self.reading = asyncio.Event()
        self.go_on = asyncio.Event()
        self.leave = leave

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            return
        if self.body and self.leave:
            raise OSError("connection reset by peer")  # as uvicorn's ClientDisconnected is
        self.body += message.get("body", b"")
        if self.body:
            self.reading.set()
            if not self.leave:
                await self.go_on.wait()


async def test_streams_past_the_limit_are_429_until_one_ends(
    make_app: Callable[..., App],
) -> None:
    app = make_app(max_streams_per_ip=2)
    viewers = [SlowViewer(), SlowViewer()]
    tasks = [asyncio.create_task(app.raw(v.send)) for v in viewers]
    for viewer in viewers:
        await asyncio.wait_for(viewer.reading.wait(), 5)
    async with app.client() as client:
        for method in ("GET", "HEAD"):
            refused = await client.request(method, app.dl())
            assert assert_429(refused, STREAMS_RETRY_AFTER) == STREAMS_RETRY_AFTER
        # The watch page is no stream; another client has slots of its own.
        assert (await client.get(app.watch())).status_code == 200
        async with app.client("198.51.100.2") as other:
            assert (await other.get(app.dl())).status_code == 200
        viewers[0].go_on.set()
        assert await asyncio.wait_for(tasks[0], 5) is None
        assert viewers[0].status == 200 and viewers[0].body == DATA
        response = await client.get(app.dl())
        assert response.status_code == 200 and sha(response.content) == sha(DATA)
    viewers[1].go_on.set()
    assert await asyncio.wait_for(tasks[1], 5) is None
    assert app.refusals() == 2


async def _fills_and_frees(app: App) -> None:
    """With MAX_STREAMS_PER_IP=1: a slot is free now, and a held one is refused."""
    viewer = SlowViewer()
    task = asyncio.create_task(app.raw(viewer.send))
    await asyncio.wait_for(viewer.reading.wait(), 5)
    async with app.client() as client:
        assert (await client.get(app.dl())).status_code == 429
    viewer.go_on.set()
    assert await asyncio.wait_for(task, 5) is None


async def test_a_slot_is_given_back_however_the_response_ends(
    make_app: Callable[..., App],
) -> None:
    app = make_app(max_streams_per_ip=1)
    async with app.client() as client:
        # Whole, ranged, HEAD, 304, 416 and a forged link: each ends, each gives back.
        assert (await client.get(app.dl())).status_code == 200
        assert (await client.get(app.dl(), headers={"Range": "bytes=1-"})).status_code == 206
        head = await client.head(app.dl())
        assert head.status_code == 200
        etag = {"If-None-Match": head.headers["etag"]}
        assert (await client.get(app.dl(), headers=etag)).status_code == 304
        assert (await client.get(app.dl(), headers={"Range": "bytes=999999-"})).status_code == 416
        assert (await client.get(app.dl().replace("sig=", "sig=x"))).status_code == 403
        assert (await client.get("/dl/0/x?sig=abc")).status_code == 400
        # Errors before the status line.
        app.files.resolve_error = FileGone("deleted")
        assert (await client.get(app.dl())).status_code == 404
        app.files.resolve_error = None
        app.files.failure = Failure(TelegramUnavailable("busy", 3))
        assert (await client.get(app.dl())).status_code == 503
    app.files.failure = None
    await _fills_and_frees(app)

    # An abort after the status line (Telegram fails mid-body).
    app.files.failure = Failure(TelegramUnavailable("busy", 3), after=PIECE)
    viewer = SlowViewer()
    viewer.go_on.set()
    assert await app.raw(viewer.send) is not None and viewer.status == 200
    app.files.failure = None
    await _fills_and_frees(app)

    # The viewer leaves mid-body.
    leaving = SlowViewer(leave=True)
    assert isinstance(await app.raw(leaving.send), ClientDisconnect)
    assert leaving.body == DATA[:PIECE]
    await _fills_and_frees(app)

    # The request task cancelled mid-body (a server shutting down).
    stuck = SlowViewer()
    task = asyncio.create_task(app.raw(stuck.send))
    await asyncio.wait_for(stuck.reading.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _fills_and_frees(app)

    # Many viewers coming and going at once leave nothing behind.
    viewers = [SlowViewer(leave=n % 2 == 0) for n in range(20)]
    for viewer in viewers:
        viewer.go_on.set()
    await asyncio.gather(*(app.raw(v.send, peer=f"198.51.100.{n}") for n, v in enumerate(viewers)))
    await _fills_and_frees(app)


async def test_memory_follows_recent_clients_only() -> None:
    limits = AbuseLimits(parse_limit("3/second"), 4, (), Metrics())
    for n in range(5000):
        key = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
        await limits.check_rate(key)
        with limits.stream_slot(key):
            assert limits.streams[key] == 1
    assert limits.streams == {}
    counted = len(limits.storage.storage)
    assert counted == 5000
    await asyncio.sleep(1.1)  # every window is over
    await limits.check_rate("192.0.2.1")  # a request of a new client sweeps the old ones out
    # The sweep is a task of its own, started by that request.
    assert limits.storage.timer is not None
    await asyncio.wait_for(limits.storage.timer, 5)
    assert len(limits.storage.storage) == 1
    assert len(limits.storage.expirations) == 1


async def test_the_refusal_is_an_exception_with_its_wait() -> None:
    metrics = Metrics()
    limits = AbuseLimits(parse_limit("1/hour"), 1, (), metrics)
    await limits.check_rate("192.0.2.1")
    with pytest.raises(TooManyRequests) as refused:
        await limits.check_rate("192.0.2.1")
    assert 3590 <= refused.value.retry_after <= 3600
    with (
        limits.stream_slot("192.0.2.1"),
        pytest.raises(TooManyRequests) as full,
        limits.stream_slot("192.0.2.1"),
    ):
        pass
    assert full.value.retry_after == STREAMS_RETRY_AFTER
    assert limits.streams == {}
    labels = {"reason": "rate-limited"}
    assert metrics.registry.get_sample_value("tgstream_link_refusals_total", labels) == 2


REQUIRED = {
    "API_ID": "12345",
    "API_HASH": "0123456789abcdef0123456789abcdef",
    "BOT_TOKEN": "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi",
    "BIN_CHANNEL": "-1001234567890",
}


def settings_from(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name in ("RATE_LIMIT", "MAX_STREAMS_PER_IP", "TRUSTED_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**REQUIRED, **env}.items():
        monkeypatch.setenv(name, value)
    return load_settings(None)


def test_the_settings_and_their_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    default = settings_from(monkeypatch)
    assert (default.rate_limit, default.max_streams_per_ip, default.trusted_proxies) == (
        None,
        0,
        (),
    )
    given = settings_from(
        monkeypatch,
        RATE_LIMIT=" 30/10 seconds ",
        MAX_STREAMS_PER_IP="8",
        TRUSTED_PROXIES="127.0.0.1, 10.0.0.0/8,,fd00::/8",
    )
    assert given.rate_limit == "30/10 seconds" and given.max_streams_per_ip == 8
    assert [str(n) for n in given.trusted_proxies] == ["127.0.0.1/32", "10.0.0.0/8", "fd00::/8"]
    item = AbuseLimits.from_settings(given, Metrics()).rate
    assert item is not None and (item.amount, item.get_expiry()) == (30, 10)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RATE_LIMIT", "lots"),
        ("RATE_LIMIT", "0/minute"),
        ("RATE_LIMIT", "120"),
        ("RATE_LIMIT", "-5/second"),
        ("MAX_STREAMS_PER_IP", "-1"),
        ("MAX_STREAMS_PER_IP", "two"),
        ("TRUSTED_PROXIES", "10.0.0.1/8"),
        ("TRUSTED_PROXIES", "haproxy"),
        ("TRUSTED_PROXIES", "127.0.0.1,300.1.1.1"),
    ],
)
def test_a_bad_value_is_one_line_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    with pytest.raises(ConfigError) as error:
        settings_from(monkeypatch, **{name: value})
    assert error.value.variable_name == name
    assert "\n" not in str(error.value) and str(error.value).startswith(f"{name}: ")
