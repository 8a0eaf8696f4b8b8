"""RATE_LIMIT, MAX_STREAMS_PER_IP and TRUSTED_PROXIES on a real `tgstream serve`: 429 with
Retry-After past either limit; X-Forwarded-For ignored from an untrusted peer, honoured from a
trusted one, and behind the shipped HAProxy configuration each viewer counted on its own.

Clients take different loopback source addresses (127.0.0.x), so the server sees different
peers without leaving the machine."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import new_server
from tests.support.processes import EmulatorProcess, ServerProcess
from tgemu.launch import HaproxyProcess

MiB = 1 << 20
FILE_DC = 4
# Per emulator connection while streams are held open: a few MiB last well over a minute.
SLOW_BPS = 100_000


def client(source: str) -> httpx.Client:
    """A client whose connections come from the loopback address `source`."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=30)


def posted(emu: EmulatorProcess, size: int, name: str) -> tuple[int, bytes]:
    data = os.urandom(size)
    result = emu.post_to_channel(data, dc=FILE_DC, name=name, mime_type="video/mp4")
    return result["message_id"], data


def assert_429(response: httpx.Response, most: int) -> int:
    assert response.status_code == 429, response.text
    assert response.json().keys() == {"error"}
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= most
    return retry_after


def refusals(url: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith('tgstream_link_refusals_total{reason="rate-limited"}'):
            return float(line.split()[-1])
    return 0.0


@pytest.fixture
def clients() -> Iterator[dict[str, httpx.Client]]:
    with ExitStack() as stack:
        yield {
            source: stack.enter_context(client(source))
            for source in ("127.0.0.1", "127.0.0.2", "127.0.0.3")
        }


def test_rate_limit_and_who_is_believed(
    emu: EmulatorProcess,
    server_factory: list[ServerProcess],
    tmp_path: Path,
    clients: dict[str, httpx.Client],
) -> None:
    # A short window, so the test can wait for its end; long enough that a busy machine
    # still sends a client's four requests within one.
    server = new_server(
        server_factory, emu, tmp_path, RATE_LIMIT="3/20 seconds", TRUSTED_PROXIES="127.0.0.2"
    )
    message_id, data = posted(emu, 200_000, "clip.mp4")
    link = server.link(message_id, "clip.mp4")
    watch = link.replace("/dl/", "/watch/")
    direct, proxy, other = clients["127.0.0.1"], clients["127.0.0.2"], clients["127.0.0.3"]

    # An untrusted peer: whatever X-Forwarded-For it sends, its own address is counted.
    for n, (method, url) in enumerate((("GET", link), ("HEAD", link), ("GET", watch))):
        spoofed = {"X-Forwarded-For": f"203.0.113.{n}"}
        assert direct.request(method, url, headers=spoofed).status_code == 200
    refused = direct.get(link, headers={"X-Forwarded-For": "203.0.113.99"})
    started = time.monotonic()
    retry_after = assert_429(refused, 20)
    assert direct.head(link).status_code == 429
    # Another peer is another client.
    response = other.get(link)
    assert response.status_code == 200
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(data).digest()

    # A trusted peer: each address it forwards for is a client of its own.
    for forwarded in ("198.51.100.1", "198.51.100.2"):
        headers = {"X-Forwarded-For": f"192.0.2.250, {forwarded}"}
        for _ in range(3):
            assert proxy.get(link, headers=headers).status_code == 200
        assert_429(proxy.get(link, headers=headers), 20)
    # Without the header it is the client itself, with its own limit.
    assert proxy.get(link).status_code == 200
    assert refusals(server.url) == 4

    # The window of the first client ends when Retry-After said.
    time.sleep(max(0.0, started + retry_after - time.monotonic()) + 0.5)
    assert direct.get(link).status_code == 200


def test_stream_limit_holds_while_streams_are_open(
    emu: EmulatorProcess,
    server_factory: list[ServerProcess],
    tmp_path: Path,
    clients: dict[str, httpx.Client],
) -> None:
    server = new_server(server_factory, emu, tmp_path, MAX_STREAMS_PER_IP="2")
    message_id, _ = posted(emu, 8 * MiB, "long.mp4")
    link = server.link(message_id, "long.mp4")
    viewer = clients["127.0.0.1"]
    emu.control.shape_dc(FILE_DC, bandwidth_bps=SLOW_BPS)
    try:
        with ExitStack() as streams:
            held = [streams.enter_context(viewer.stream("GET", link)) for _ in range(2)]
            assert [r.status_code for r in held] == [200, 200]
            # Two responses in progress: a third, GET or HEAD, is refused; others are not.
            assert_429(viewer.get(link), 5)
            assert viewer.head(link).status_code == 429
            assert clients["127.0.0.2"].head(link).status_code == 200
            assert refusals(server.url) == 2
            # One viewer leaves: its slot comes back once the server sees the connection go.
            held[0].close()
            deadline = time.monotonic() + 30
            while (status := viewer.head(link).status_code) == 429:
                assert time.monotonic() < deadline, "slot not given back"
                time.sleep(0.2)
            assert status == 200
            # ...and it is the only one: the other stream still holds its slot.
            with viewer.stream("GET", link) as third:
                assert third.status_code == 200
                assert viewer.head(link).status_code == 429
    finally:
        emu.control.clear_faults()


def test_behind_haproxy_each_viewer_is_counted_on_its_own(
    emu: EmulatorProcess,
    server_factory: list[ServerProcess],
    tmp_path: Path,
    clients: dict[str, httpx.Client],
) -> None:
    """The shipped configuration adds X-Forwarded-For (`option forwardfor`); with HAProxy
    named in TRUSTED_PROXIES, what a viewer writes there itself changes nothing."""
    server = new_server(
        server_factory, emu, tmp_path, RATE_LIMIT="2/minute", TRUSTED_PROXIES="127.0.0.1"
    )
    message_id, _ = posted(emu, 50_000, "via.mp4")
    lb = HaproxyProcess([server.port], tmp_path / "haproxy.cfg", tmp_path / "haproxy.log")
    lb.start()
    try:
        link = lb.url + server.link(message_id, "via.mp4").removeprefix(server.url)
        first, second = clients["127.0.0.2"], clients["127.0.0.3"]
        for n in range(2):
            spoofed = {"X-Forwarded-For": f"203.0.113.{n}"}
            assert first.get(link, headers=spoofed).status_code == 200
        assert_429(first.get(link, headers={"X-Forwarded-For": "203.0.113.7"}), 60)
        assert second.get(link).status_code == 200
    finally:
        lb.stop()
