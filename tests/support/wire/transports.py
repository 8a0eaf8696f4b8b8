"""The client side of every MTProto TCP transport (core.telegram.org/mtproto/mtproto-transports).

One abstraction, `Framing`: the bytes a connection opens with, `pack` for each payload sent
and `feed` for the bytes received, which returns whole payloads.  Behind it: abridged,
intermediate, padded intermediate, full (length, seqno, CRC32), and obfuscation (a 64-byte
random header, then AES-256-CTR) around any of the first three.

Written here from the spec on purpose: the emulator's codecs (tgemu/transport.py) are checked
against this, so it shares no code with them or with Kurigram's transports (which are checked
separately, end to end).  The AES-CTR primitive comes from Kurigram's crypto helpers, not from
the library the emulator's obfuscation uses.  Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import struct
import zlib
from collections.abc import Callable
from typing import Final

from pyrogram.crypto import aes

TRANSPORTS: Final = [
    "abridged",
    "intermediate",
    "padded_intermediate",
    "full",
    "obfuscated_abridged",
    "obfuscated_intermediate",
    "obfuscated_padded_intermediate",
]

# What a plain connection opens with, and what an obfuscated header carries at bytes 56..60.
OBFUSCATED_TAGS: Final = {
    "abridged": b"\xef\xef\xef\xef",
    "intermediate": b"\xee\xee\xee\xee",
    "padded_intermediate": b"\xdd\xdd\xdd\xdd",
}
# What the first word of an obfuscated header must not be: HTTP verbs, the plain transports'
# tags and the TLS ClientHello opening (0x02010316).
_RESERVED_FIRST_WORDS: Final = {
    b"HEAD",
    b"POST",
    b"GET ",
    b"OPTI",
    b"\xdd" * 4,
    b"\xee" * 4,
    b"\x16\x03\x01\x02",
}


class Framing:
    """One connection's transport, client side: opening bytes, packing and decoding."""

    name: str
    # Whether the framing has a bit for asking the server for a quick ack.
    quick_ack: bool = True
    # Whether received payloads carry trailing padding that only the MTProto layer can strip.
    padded: bool = False

    def __init__(self) -> None:
        self._buf = bytearray()

    def opening(self) -> bytes:
        return b""

    def pack(self, payload: bytes, *, quick_ack: bool = False) -> bytes:
        raise NotImplementedError

    @property
    def buffered(self) -> int:
        """Received bytes not yet part of a whole packet."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """The payloads the received bytes complete, in order."""
        self._buf += data
        out: list[bytes] = []
        while self._buf and (span := self._locate(self._buf)) is not None:
            start, stop, end = span
            out.append(bytes(self._buf[start:stop]))
            del self._buf[:end]
        return out

    def _locate(self, buf: bytearray) -> tuple[int, int, int] | None:
        """(payload start, payload stop, packet end), or None until the packet is complete."""
        raise NotImplementedError


def read_all(framing: Framing, stream: bytes) -> list[bytes]:
    """Every payload in a received stream, which must end on a packet boundary."""
    out = framing.feed(stream)
    assert framing.buffered == 0, "stream ends inside a packet"
    return out


class AbridgedFraming(Framing):
    name = "abridged"

    def __init__(self, tagged: bool = True) -> None:
        super().__init__()
        self._tagged = tagged

    def opening(self) -> bytes:
        return b"\xef" if self._tagged else b""

    def pack(self, payload: bytes, *, quick_ack: bool = False) -> bytes:
        words = len(payload) // 4
        ack = 0x80 if quick_ack else 0
        if words < 0x7F:
            return bytes((words | ack,)) + payload
        return bytes((0x7F | ack,)) + words.to_bytes(3, "little") + payload

    def _locate(self, buf: bytearray) -> tuple[int, int, int] | None:
        words, start = buf[0] & 0x7F, 1
        if words == 0x7F:
            if len(buf) < 4:
                return None
            words, start = int.from_bytes(buf[1:4], "little"), 4
        end = start + 4 * words
        return (start, end, end) if len(buf) >= end else None


class IntermediateFraming(Framing):
    name = "intermediate"

    def __init__(self, tagged: bool = True) -> None:
        super().__init__()
        self._tagged = tagged

    def opening(self) -> bytes:
        return OBFUSCATED_TAGS[self.name] if self._tagged else b""

    def pack(self, payload: bytes, *, quick_ack: bool = False) -> bytes:
        return self._packet(payload, quick_ack)

    @staticmethod
    def _packet(data: bytes, quick_ack: bool) -> bytes:
        return struct.pack("<I", len(data) | (1 << 31 if quick_ack else 0)) + data

    def _locate(self, buf: bytearray) -> tuple[int, int, int] | None:
        if len(buf) < 4:
            return None
        end = 4 + (int.from_bytes(buf[:4], "little") & 0x7FFFFFFF)
        return (4, end, end) if len(buf) >= end else None


def random_padding(payload: bytes) -> bytes:
    # 1-15 bytes, never 0, so a server that does not strip the padding cannot pass by luck.
    return os.urandom(1 + secrets.randbelow(15))


class PaddedIntermediateFraming(IntermediateFraming):
    """Intermediate with 0-15 random bytes after each payload; `feed` returns them too."""

    name = "padded_intermediate"
    padded = True

    def __init__(self, tagged: bool = True, pad: Callable[[bytes], bytes] = random_padding) -> None:
        super().__init__(tagged)
        self._pad = pad

    def pack(self, payload: bytes, *, quick_ack: bool = False) -> bytes:
        return self._packet(payload + self._pad(payload), quick_ack)


class FullFraming(Framing):
    """Length, seqno (0, 1, 2, ... per direction), payload and CRC32; no quick-ack bit."""

    name = "full"
    quick_ack = False

    def __init__(self, seqno: int = 0) -> None:
        super().__init__()
        self.send_seqno = seqno
        self.recv_seqno = 0

    def pack(self, payload: bytes, *, quick_ack: bool = False) -> bytes:
        if quick_ack:
            raise ValueError("the full transport has no quick-ack bit")
        head = struct.pack("<II", len(payload) + 12, self.send_seqno) + payload
        self.send_seqno += 1
        return head + struct.pack("<I", zlib.crc32(head))

    def _locate(self, buf: bytearray) -> tuple[int, int, int] | None:
        if len(buf) < 8:
            return None
        total, seqno = struct.unpack_from("<II", buf)
        if len(buf) < total:
            return None
        assert seqno == self.recv_seqno, f"full transport seqno {seqno}, expected {self.recv_seqno}"
        (crc,) = struct.unpack_from("<I", buf, total - 4)
        assert crc == zlib.crc32(buf[: total - 4]), f"bad CRC32 in full packet {seqno}"
        self.recv_seqno += 1
        return 8, total - 4, total


class _Ctr:
    """One direction of AES-256-CTR, continuing across calls."""

    def __init__(self, key: bytes, iv: bytes) -> None:
        self._key, self._iv, self._state = key, bytearray(iv), bytearray(1)

    def __call__(self, data: bytes) -> bytes:
        return bytes(aes.ctr256_encrypt(data, self._key, self._iv, self._state))


class ObfuscatedFraming(Framing):
    """Obfuscation around a plain framing; `tag` overrides the inner framing's tag."""

    def __init__(
        self, inner: Framing, dc_id: int, *, secret: bytes | None = None, tag: bytes | None = None
    ) -> None:
        super().__init__()
        self.name = f"obfuscated_{inner.name}"
        self.quick_ack = inner.quick_ack
        self.padded = inner.padded
        self._inner = inner
        while True:
            nonce = bytearray(os.urandom(64))
            if (
                nonce[0] != 0xEF
                and bytes(nonce[:4]) not in _RESERVED_FIRST_WORDS
                and nonce[4:8] != bytes(4)
            ):
                break
        nonce[56:60] = OBFUSCATED_TAGS[inner.name] if tag is None else tag
        nonce[60:62] = dc_id.to_bytes(2, "little", signed=True)
        reverse = bytes(nonce[55:7:-1])
        send_key, recv_key = bytes(nonce[8:40]), reverse[:32]
        if secret is not None:
            send_key = hashlib.sha256(send_key + secret).digest()
            recv_key = hashlib.sha256(recv_key + secret).digest()
        self._encrypt = _Ctr(send_key, bytes(nonce[40:56]))
        self._decrypt = _Ctr(recv_key, reverse[32:48])
        self._header = bytes(nonce[:56]) + self._encrypt(bytes(nonce))[56:]

    def opening(self) -> bytes:
        return self._header

    def pack(self, payload: bytes, *, quick_ack: bool = False) -> bytes:
        return self._encrypt(self._inner.pack(payload, quick_ack=quick_ack))

    @property
    def buffered(self) -> int:
        return self._inner.buffered

    def feed(self, data: bytes) -> list[bytes]:
        return self._inner.feed(self._decrypt(data))


def make_framing(
    kind: str,
    dc_id: int,
    *,
    secret: bytes | None = None,
    pad: Callable[[bytes], bytes] = random_padding,
) -> Framing:
    """A fresh framing of one of `TRANSPORTS`; `secret` is an MTProxy secret (obfuscated only)."""
    plain: dict[str, Callable[[bool], Framing]] = {
        "abridged": AbridgedFraming,
        "intermediate": IntermediateFraming,
        "padded_intermediate": lambda tagged: PaddedIntermediateFraming(tagged, pad),
    }
    inner = kind.removeprefix("obfuscated_")
    if kind.startswith("obfuscated_") and inner in plain:
        return ObfuscatedFraming(plain[inner](False), dc_id, secret=secret)
    assert secret is None, "only obfuscated transports take a proxy secret"
    if kind == "full":
        return FullFraming()
    if kind in plain:
        return plain[kind](True)
    raise ValueError(f"unknown transport {kind!r}")


class TransportErrorReceived(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"transport error {code}")
        self.code = code


def transport_error_code(payload: bytes) -> int | None:
    """The code of a 4-byte transport error payload (e.g. -404), else None."""
    return int.from_bytes(payload, "little", signed=True) if len(payload) == 4 else None


def raise_transport_error(payload: bytes) -> None:
    """TransportErrorReceived if the payload is a transport error rather than a message."""
    code = transport_error_code(payload)
    if code is not None:
        raise TransportErrorReceived(code)
