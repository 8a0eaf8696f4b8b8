"""Player traces: reading and checking them, cutting them for --quick, the figures drawn from a
replay; the recording proxy and the replay against a small Range server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tgbench.record_proxy import Recorder, serve
from tgbench.trace import (
    FOUR_MIB,
    Outcome,
    Request,
    Trace,
    TraceError,
    committed,
    cut,
    figures,
    from_json,
    load,
    parse_range,
)
from tgbench.trace_replay import replay

MiB = 1 << 20


def _doc(**changes: Any) -> dict[str, Any]:
    request = {"start_s": 0.5, "first": 0, "last": None, "read": 10, "end_s": 1.0, "aborted": True}
    doc: dict[str, Any] = {"player": "p", "file_bytes": 100, "requests": [request]}
    doc["requests"] = [{**request, **changes}]
    return doc


def test_parse_range_takes_single_ranges_from_a_first_byte() -> None:
    assert parse_range(None) == (0, None)
    assert parse_range("bytes=0-") == (0, None)
    assert parse_range(" bytes=5-9 ") == (5, 9)
    for bad in ("bytes=-5", "bytes=1-2,4-5", "items=0-", "bytes=9-5", ""):
        with pytest.raises(TraceError):
            parse_range(bad)


def test_a_trace_is_checked_when_read() -> None:
    assert from_json("t", _doc()).requests[0] == Request(0.5, 0, None, 10, 1.0, True)
    for bad in (
        _doc(first=100),  # past the end
        _doc(last=100),
        _doc(first=50, last=40),
        _doc(read=101),  # more than the file
        _doc(first=95, read=6),
        _doc(end_s=0.1),  # ends before it starts
        _doc(start_s=-1),
        _doc(read="ten"),
        {"player": "p", "file_bytes": 100, "requests": []},
        {"player": "p", "requests": []},
        [],
    ):
        with pytest.raises(TraceError):
            from_json("t", bad)
    two = _doc()
    two["requests"].append({**two["requests"][0], "start_s": 0.1})
    with pytest.raises(TraceError, match="out of order"):
        from_json("t", two)


def test_load_says_which_file_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{")
    with pytest.raises(TraceError, match=r"broken\.json"):
        load(path)
    path.write_text(json.dumps(_doc()))
    assert load(path).name == "broken"


def test_committed_traces_are_a_player_seeking() -> None:
    """What was recorded: open-ended ranges from many places, most of them hung up by a
    seek, and reads of megabytes, not the 256 KiB of the synthetic seeks."""
    traces = committed()
    assert "chromium" in {t.name for t in traces}
    for t in traces:
        assert all(r.last is None for r in t.requests), t.name
        if t.name == "chromium":
            assert len({r.first for r in t.requests}) >= 5
            assert sum(r.aborted for r in t.requests) >= 5
            assert max(r.read for r in t.requests) >= FOUR_MIB


def test_cut_keeps_the_first_requests_on_a_faster_clock() -> None:
    t = Trace(
        "t",
        "p",
        100,
        (Request(1.0, 0, None, 10, 2.0, True), Request(2.0, 50, None, 10, 4.0, False)),
    )
    quick = cut(t, 1, 2.0)
    assert quick.requests == (Request(0.5, 0, None, 10, 1.0, True),)
    assert cut(t, None, 1.0) == t
    assert t.seconds == 4.0
    with pytest.raises(ValueError):
        cut(t, 1, 0)


def test_figures_count_seeks_and_bound_short_ones_by_their_window() -> None:
    t = Trace(
        "t",
        "p",
        100 * MiB,
        (
            Request(0.0, 0, None, 8 * MiB, 1.0, True),  # the start, not a seek
            Request(1.0, 10 * MiB, None, 8 * MiB, 3.0, True),
            Request(3.0, 50 * MiB, None, 8 * MiB, 4.0, True),
            Request(4.0, 60 * MiB, None, MiB, 5.0, True),  # too small for the 4 MiB figure
        ),
    )
    outcomes = [
        Outcome(0.5, 0.9, 8 * MiB, 1.0, None),
        Outcome(0.1, 0.6, 8 * MiB, 2.0, None),
        Outcome(0.2, None, 3 * MiB, 1.0, None),  # hung up before its 4th MiB
        Outcome(0.3, None, MiB, 1.0, "wrong bytes"),
    ]
    got = figures(t, outcomes)
    assert got["seeks"] == 3 and got["requests"] == 4
    assert got["ttfb_p50_ms"] == pytest.approx(200) and got["ttfb_p95_ms"] == pytest.approx(300)
    assert got["to_4mib_p50_ms"] == pytest.approx(600)
    assert got["to_4mib_p95_ms"] == pytest.approx(1000)  # the window it had
    assert got["seeks_short_of_4mib"] == 1
    assert got["served_bytes"] == 20 * MiB
    assert got["errors"] == 1 and got["error_kinds"] == ["wrong bytes"]
    with pytest.raises(ValueError):
        figures(t, outcomes[:2])


# A Range server on loopback, for the proxy and the replay: 206 with Content-Length, written
# in 64 KiB pieces so that a reader that stops holds it back.
async def _range_server(
    data: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            first = 0
            for line in head.split("\r\n"):
                if line.lower().startswith("range:"):
                    first = parse_range(line.split(":", 1)[1])[0]
            body = data[first:]
            writer.write(
                f"HTTP/1.1 206 Partial Content\r\nContent-Length: {len(body)}\r\n"
                f"Content-Range: bytes {first}-{len(data) - 1}/{len(data)}\r\n\r\n".encode()
            )
            for i in range(0, len(body), 1 << 16):
                writer.write(body[i : i + (1 << 16)])
                await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def _listen(data: bytes) -> AsyncIterator[str]:
    server = await asyncio.start_server(lambda r, w: _range_server(data, r, w), "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/film"


async def test_the_proxy_records_ranges_reads_and_hang_ups() -> None:
    data = os.urandom(16 * MiB)
    async with _listen(data) as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        rec = Recorder(("127.0.0.1", port))
        proxy = await serve(rec)
        via = f"http://127.0.0.1:{proxy.sockets[0].getsockname()[1]}/film"
        rec.start()
        async with httpx.AsyncClient() as http:
            # Read to the end on one connection, then a second request on the same one.
            whole = await http.get(via, headers={"Range": "bytes=15728640-"})
            assert whole.content == data[15 * MiB :]
            # A seek: read 1 MiB of an open-ended range, stop, hang up.
            async with http.stream("GET", via, headers={"Range": f"bytes={2 * MiB}-"}) as r:
                got = b""
                async for chunk in r.aiter_raw():
                    got += chunk
                    if len(got) >= MiB:
                        break
            assert got[:MiB] == data[2 * MiB : 3 * MiB]
        await asyncio.sleep(0.2)
        proxy.close()
        done, seek = rec.seen
        assert (done.range, done.status, done.taken, done.aborted) == (
            "bytes=15728640-",
            206,
            MiB,
            False,
        )
        assert seek.range == f"bytes={2 * MiB}-" and seek.aborted
        # Taken is what the player got, within the loopback sockets' buffers.
        assert MiB <= seek.taken < 14 * MiB
        assert seek.first_byte is not None and seek.ended is not None


async def test_replay_takes_what_the_player_took_and_hangs_up_with_it() -> None:
    data = os.urandom(24 * MiB)
    trace = Trace(
        "t",
        "p",
        len(data),
        (
            Request(0.0, 0, None, 5 * MiB, 0.6, True),  # took 5 MiB, then idle until the seek
            Request(0.3, 12 * MiB, None, 12 * MiB, 0.4, False),  # to the end
            Request(0.7, 20 * MiB, None, MiB, 0.8, True),
        ),
    )
    async with _listen(data) as url:
        outcomes = await replay(url, data, trace)
    assert [o.error for o in outcomes] == [None, None, None]
    assert [o.taken for o in outcomes] == [5 * MiB, 12 * MiB, MiB]
    assert outcomes[0].to_4mib is not None and outcomes[2].to_4mib is None
    assert all(o.ttfb is not None for o in outcomes)
    with pytest.raises(ValueError):
        await replay("http://127.0.0.1:9/", data[:-1], trace)
