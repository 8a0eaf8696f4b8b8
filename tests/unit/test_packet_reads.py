"""The MTProto transport tgstream gives Kurigram reads whole packets over a real loopback
socket: byte-exact however the sender splits them, ends on no progress for TIMEOUT (not on
a slow packet that keeps moving), and answers None when the peer goes away mid-packet."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable

from tgstream.telegram.network import StreamingAbridged

Sender = Callable[[asyncio.StreamWriter], Awaitable[None]]


def framed(payload: bytes) -> bytes:
    """Abridged framing: the length in 4-byte words, one byte, or 0x7f and three."""
    words = len(payload) // 4
    head = bytes([words]) if words <= 126 else b"\x7f" + words.to_bytes(3, "little")
    return head + payload


class QuickTimeout(StreamingAbridged):
    TIMEOUT = 0.5


async def received(send: Sender, transport: type[StreamingAbridged]) -> bytes | None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(1)  # the abridged marker the client opens with
        await send(writer)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = transport()
    try:
        await client.connect(("127.0.0.1", port))
        return await client.recv()
    finally:
        await client.close()
        server.close()


def in_chunks(data: bytes, size: int, pause: float, then_close: bool = False) -> Sender:
    async def send(writer: asyncio.StreamWriter) -> None:
        for at in range(0, len(data), size):
            writer.write(data[at : at + size])
            await writer.drain()
            await asyncio.sleep(pause)
        if then_close:
            writer.close()
        else:
            await asyncio.sleep(30)  # hold the connection open; the client ends the test

    return send


async def test_a_part_sized_packet_arrives_byte_exact_from_small_chunks() -> None:
    payload = os.urandom((1 << 20) + 64)
    got = await received(in_chunks(framed(payload), 7_777, 0), StreamingAbridged)
    assert got == payload


async def test_a_small_packet_in_one_piece() -> None:
    payload = os.urandom(64)
    assert await received(in_chunks(framed(payload), 1 << 16, 0), StreamingAbridged) == payload


async def test_a_slow_packet_that_keeps_moving_outlasts_the_timeout() -> None:
    payload = os.urandom(64 * 1024)
    started = time.monotonic()
    got = await received(in_chunks(framed(payload), 8 * 1024, 0.15), QuickTimeout)
    assert got == payload
    assert time.monotonic() - started > QuickTimeout.TIMEOUT  # longer than one bound


async def test_no_progress_for_the_timeout_ends_the_read() -> None:
    payload = os.urandom(64 * 1024)
    half = framed(payload)[: 32 * 1024]
    started = time.monotonic()
    assert await received(in_chunks(half, 32 * 1024, 0), QuickTimeout) is None
    assert time.monotonic() - started < QuickTimeout.TIMEOUT + 2.0


async def test_a_peer_that_closes_mid_packet_gives_none() -> None:
    half = framed(os.urandom(64 * 1024))[:10_000]
    got = await received(in_chunks(half, 4096, 0, then_close=True), StreamingAbridged)
    assert got is None
