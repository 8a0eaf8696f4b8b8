"""HTTP semantics of the download route, end to end: validators, conditional requests,
dispositions, metrics, the link command, and a body that fails after headers went out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import new_server
from tests.support.processes import EmulatorProcess, ServerProcess

MiB = 1 << 20


def test_conditional_requests_dispositions_and_metrics(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data = os.urandom(2 * MiB)
    message_id = emulator.post_to_channel(data, dc=2, file_name='my "cut"/final é.mkv')[
        "message_id"
    ]
    server = new_server(server_factory, emulator, tmp_path, "http")
    url = server.link(message_id)
    first = httpx.get(url, timeout=30)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert first.headers["content-disposition"] == (
        'inline; filename="my _cut__final _.mkv"; '
        "filename*=UTF-8''my%20%22cut%22_final%20%C3%A9.mkv"
    )
    assert httpx.get(url + "&download=1").headers["content-disposition"].startswith("attachment;")

    not_modified = httpx.get(url, headers={"If-None-Match": etag}, timeout=30)
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert httpx.get(url, headers={"If-None-Match": '"other"'}).status_code == 200

    partial = httpx.get(url, headers={"Range": "bytes=10-19", "If-Range": etag}, timeout=30)
    assert partial.status_code == 206 and partial.content == data[10:20]
    by_date = httpx.get(url, headers={"Range": "bytes=10-19", "If-Range": modified}, timeout=30)
    assert by_date.status_code == 206
    stale = httpx.get(url, headers={"Range": "bytes=10-19", "If-Range": '"stale"'}, timeout=30)
    assert stale.status_code == 200 and len(stale.content) == len(data)

    assert httpx.get(url.replace("sig=", "sig=x")).status_code == 403
    assert httpx.get(server.link(message_id + 1000)).status_code == 404

    # Anyone can send the bot a page: it must never run as a page of tgstream's origin.
    page = b"<html><script>document.cookie</script></html>"
    html_id = emulator.post_to_channel(
        page, dc=2, file_name="x.html", mime_type="text/html", kind="document"
    )["message_id"]
    served = httpx.get(server.link(html_id))
    assert served.content == page
    assert served.headers["content-disposition"].startswith("attachment;")
    assert served.headers["content-security-policy"] == "sandbox"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert first.headers["content-security-policy"] == "sandbox"

    metrics = httpx.get(f"{server.url}/metrics").text
    assert "tgstream_bytes_served_total" in metrics
    assert 'tgstream_parts_fetched_total{dc="2"}' in metrics
    assert "tgstream_time_to_first_byte_seconds_bucket" in metrics


def test_link_command_prints_working_signed_links(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data = os.urandom(1000)
    message_id = emulator.post_to_channel(data, dc=2)["message_id"]
    server = new_server(server_factory, emulator, tmp_path, "link")
    result = subprocess.run(
        [sys.executable, "-m", "tgstream", "link", str(message_id)],
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    download, watch = result.stdout.split()
    assert httpx.get(download).content == data
    assert httpx.get(watch).status_code == 200


def test_failure_after_headers_aborts_the_connection(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data = os.urandom(16 * MiB)
    message_id = emulator.post_to_channel(data, dc=4)["message_id"]
    # Few connections and a slow DC: most parts are still to be requested at the fault.
    server = new_server(
        server_factory, emulator, tmp_path, "abort", CACHE_SIZE_MB="0", CONNECTIONS_PER_DC="2"
    )
    emulator.faults(dcs={"4": {"bandwidth_bps": 4_000_000}})
    received = 0
    flood = [{"method": "upload.getFile", "seconds": 900, "count": None}]
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("GET", server.link(message_id), timeout=60) as response,
    ):
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received > 2 * MiB and not emulator.faults()["flood_waits"]:
                emulator.faults(flood_waits=flood)
    assert 2 * MiB < received < len(data)
    assert "stream aborted after headers" in server.logs()
