"""One asyncio TCP connection to a DC, speaking one transport."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from .transports import Framing, make_framing


class ConnectionClosed(ConnectionError):
    """The server closed the connection."""


def strip_transport_padding(payload: bytes) -> bytes:
    """The MTProto payload inside a padded-intermediate packet (0-15 random bytes trail it).

    The frame only gives the padded length, so the real one comes from the payload itself:
    a transport error is 4 bytes, an unencrypted message says its length at offset 16, and an
    encrypted one is 24 bytes of header plus whole 16-byte blocks.
    """
    if len(payload) < 24:
        return payload[:4]
    if payload[:8] == bytes(8):
        return payload[: 20 + int.from_bytes(payload[16:20], "little")]
    return payload[: len(payload) - (len(payload) - 24) % 16]


class WireConnection:
    """Sends and receives MTProto payloads; padding is stripped here, where sizes are known."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, framing: Framing
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.framing = framing
        self.eof = False
        self._pending: deque[bytes] = deque()

    @classmethod
    async def open(cls, address: tuple[str, int], kind: str, dc_id: int) -> WireConnection:
        reader, writer = await asyncio.open_connection(*address)
        framing = make_framing(kind, dc_id)
        connection = cls(reader, writer, framing)
        opening = framing.opening()
        if opening:
            writer.write(opening)
        return connection

    async def send(self, payload: bytes) -> None:
        self.writer.write(self.framing.pack(payload))
        await self.writer.drain()

    async def _fill(self) -> None:
        try:
            data = await self.reader.read(1 << 16)
        except ConnectionError:
            data = b""
        if not data:
            self.eof = True
            return
        payloads = self.framing.feed(data)
        if self.framing.padded:
            payloads = [strip_transport_padding(p) for p in payloads]
        self._pending.extend(payloads)

    async def recv(self, within: float = 5.0) -> bytes:
        """The next payload; ConnectionClosed at end of stream, TimeoutError if none comes."""
        async with asyncio.timeout(within):
            while not self._pending:
                if self.eof:
                    raise ConnectionClosed("the server closed the connection")
                await self._fill()
        return self._pending.popleft()

    async def wait_closed(self, within: float) -> bool:
        """Whether the server closes the connection within `within` s (payloads are kept)."""
        try:
            async with asyncio.timeout(within):
                while not self.eof:
                    await self._fill()
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()
