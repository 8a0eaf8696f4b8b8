"""A recording HTTP/1.1 proxy between a player and one server: it relays each request on a
fresh upstream connection and notes its Range, how many body bytes the player took, when the
first came, and whether the player hung up before the end (a seek's abort).

The proxy's socket to the player has a small send buffer, so "taken" is close to what the player
read; the player's own receive buffer still holds what the kernel accepted for it, so the count
is an upper bound by that much (tens to hundreds of KiB on loopback).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass, field

CHUNK = 64 * 1024
_SEND_BUFFER = 64 * 1024


@dataclass
class Seen:
    """One request as the player made it and as far as it went."""

    started: float  # seconds since the proxy's clock started
    range: str | None  # the request's Range header, verbatim
    status: int = 0
    length: int | None = None  # Content-Length of the answer
    taken: int = 0  # body bytes handed to the player
    first_byte: float | None = None  # seconds after `started`
    ended: float | None = None  # seconds since the clock started
    aborted: bool = False  # the player closed before the whole body


@dataclass
class Recorder:
    """Every request seen, on one clock that `start()` sets."""

    upstream: tuple[str, int]
    seen: list[Seen] = field(default_factory=list)
    clock0: float = 0.0

    def now(self) -> float:
        return time.monotonic() - self.clock0

    def start(self) -> None:
        self.clock0 = time.monotonic()
        self.seen.clear()


def _header(head: bytes, name: bytes) -> str | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().decode("latin-1")
    return None


def _forwarded(head: bytes) -> bytes:
    """The player's request with `Connection: close` towards the server (one request per
    upstream connection, so an abort there is a closed socket as it is for the player)."""
    lines = [
        line
        for line in head.split(b"\r\n")
        if line and not line.lower().startswith((b"connection:", b"keep-alive:"))
    ]
    return b"\r\n".join([*lines, b"Connection: close", b"", b""])


async def _answer_head(up: asyncio.StreamReader) -> bytes:
    head = await up.readuntil(b"\r\n\r\n")
    # The player keeps its connection: the body's length frames the answer.
    lines = [
        line
        for line in head.split(b"\r\n")
        if line and not line.lower().startswith((b"connection:", b"keep-alive:"))
    ]
    return b"\r\n".join([*lines, b"Connection: keep-alive", b"", b""])


async def _relay_one(rec: Recorder, head: bytes, player: asyncio.StreamWriter) -> bool:
    """Relay one request; False when the player's connection is done."""
    seen = Seen(rec.now(), _header(head, b"range"))
    rec.seen.append(seen)
    up_r, up_w = await asyncio.open_connection(*rec.upstream)
    try:
        up_w.write(_forwarded(head))
        await up_w.drain()
        answer = await _answer_head(up_r)
        seen.status = int(answer.split(b" ", 2)[1])
        length = _header(answer, b"content-length")
        seen.length = int(length) if length is not None else None
        player.write(answer)
        await player.drain()
        while seen.length is None or seen.taken < seen.length:
            chunk = await up_r.read(CHUNK)
            if not chunk:
                break
            if seen.first_byte is None:
                seen.first_byte = rec.now() - seen.started
            player.write(chunk)
            await player.drain()
            seen.taken += len(chunk)
    except (ConnectionError, asyncio.IncompleteReadError):
        seen.aborted = True
        return False
    finally:
        seen.ended = rec.now()
        up_w.close()
    return seen.length is not None


async def _watch(reader: asyncio.StreamReader) -> bytes:
    """b"" once the player hangs up; a byte if it speaks (its next request)."""
    try:
        return await reader.read(1)
    except ConnectionError:
        return b""


async def _serve(rec: Recorder, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SEND_BUFFER)
    pending = b""  # a byte the hang-up watch read off the next request
    try:
        while True:
            try:
                head = pending + await reader.readuntil(b"\r\n\r\n")
                pending = b""
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            # A player that hangs up mid-body is seen as a failed write; one that stops
            # reading is seen as a write that waits (its buffer is full).
            relay = asyncio.create_task(_relay_one(rec, head, writer))
            hangup = asyncio.create_task(_watch(reader))
            done, _ = await asyncio.wait({relay, hangup}, return_when=asyncio.FIRST_COMPLETED)
            if relay in done:
                hangup.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    pending = await hangup
                if not relay.result():
                    return
                continue
            # The player closed its connection (or, against HTTP/1.1, pipelined): an abort.
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay
            rec.seen[-1].aborted = rec.seen[-1].taken != rec.seen[-1].length
            return
    finally:
        writer.close()


async def serve(rec: Recorder, port: int = 0) -> asyncio.Server:
    """Listen on 127.0.0.1 (`port` 0: any free one, read it off the server's socket)."""
    return await asyncio.start_server(
        lambda r, w: _serve(rec, r, w), "127.0.0.1", port, reuse_address=True
    )
