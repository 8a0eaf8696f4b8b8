"""Server side of the MTProto TCP transports (core.telegram.org/mtproto/mtproto-transports).

Sans-I/O: every codec turns received bytes into whole MTProto payloads and payloads into bytes
to send; the caller owns the socket.  A new connection's first bytes go to `TransportDetector`,
which picks the codec the client chose.

Payloads are capped at `MAX_PAYLOAD` so a hostile length prefix cannot make the server buffer
unbounded data: the length is checked as soon as the header is in, before the body arrives.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from typing import Final, Protocol, TypeAlias

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = [
    "MAX_PAYLOAD",
    "AbridgedCodec",
    "Codec",
    "FullCodec",
    "IntermediateCodec",
    "ObfuscatedCodec",
    "PaddedIntermediateCodec",
    "TransportDetector",
    "TransportError",
    "transport_error",
]

MAX_PAYLOAD: Final = 16 * 1024 * 1024

ABRIDGED_TAG: Final = b"\xef"
INTERMEDIATE_TAG: Final = b"\xee\xee\xee\xee"
PADDED_INTERMEDIATE_TAG: Final = b"\xdd\xdd\xdd\xdd"
OBFUSCATED_HEADER_SIZE: Final = 64

# What an obfuscated client puts at decrypted header bytes 56..60 to name the inner framing.
_OBFUSCATED_ABRIDGED_TAG: Final = b"\xef\xef\xef\xef"

_HTTP_WORDS: Final = frozenset({b"HEAD", b"POST", b"GET ", b"OPTI"})
# 0x02010316 on the wire: the TLS ClientHello that fake-TLS MTProxy clients open with.
_FAKE_TLS_WORD: Final = b"\x16\x03\x01\x02"

_U32: Final = struct.Struct("<I")
_FULL_HEADER: Final = struct.Struct("<II")
# The intermediate length's top bit is the client's quick-ack request, not part of the size.
_LENGTH_MASK: Final = 0x7FFFFFFF

_Data: TypeAlias = bytes | bytearray | memoryview


class TransportError(Exception):
    """The peer broke the transport framing; the caller should close the connection."""


class Codec(Protocol):
    """One connection's framing in both directions."""

    name: str

    def feed(self, data: bytes) -> list[bytes]:
        """Buffer received bytes and return every payload completed by them, in order."""
        ...

    def frame(self, payload: bytes) -> bytes:
        """Encode one server-to-client payload as the bytes to write to the socket."""
        ...


def transport_error(code: int) -> bytes:
    """The payload reporting transport error `code` (404, 429, 444, ...), to frame and send.

    Telegram sends it in place of a message and then closes the connection.
    """
    if code <= 0:
        raise ValueError(f"transport error codes are positive, got {code}")
    return struct.pack("<i", -code)


class _StreamCodec:
    """Shared receive loop; subclasses only say where the next payload lies.

    Complete packets are sliced straight out of the caller's chunk when nothing is pending, so
    a packet that arrives whole is copied once (into its `bytes`); only a split packet's
    bytes pass through the buffer.  `del buf[:n]` is cheap because CPython's bytearray drops a
    prefix by moving its start pointer.
    """

    name: str

    def __init__(self) -> None:
        self._buf = bytearray()

    def _locate(self, view: memoryview, pos: int) -> tuple[int, int, int] | None:
        """(payload start, payload stop, packet end) of the packet at `pos`.

        None until the whole packet is in; TransportError as soon as the header is bad.
        """
        raise NotImplementedError

    def frame(self, payload: bytes) -> bytes:
        raise NotImplementedError

    def _extend(self, data: _Data) -> None:
        # Bytes that arrived with the transport's opening header: parsed by the next feed().
        self._buf += data

    def feed(self, data: _Data) -> list[bytes]:
        buf = self._buf
        if buf:
            buf += data
            source: _Data = buf
        else:
            source = data
        out: list[bytes] = []
        pos = 0
        with memoryview(source) as view:
            while (span := self._locate(view, pos)) is not None:
                start, stop, pos = span
                out.append(view[start:stop].tobytes())
            if source is buf:
                # The view must be released before the buffer can be resized.
                view.release()
                del buf[:pos]
            elif pos < len(view):
                buf += view[pos:]
        return out


def _check_size(size: int, *, aligned: bool) -> None:
    if size <= 0:
        raise TransportError("empty packet")
    if size > MAX_PAYLOAD:
        raise TransportError(f"packet of {size} bytes exceeds the {MAX_PAYLOAD}-byte limit")
    if aligned and size % 4:
        raise TransportError(f"packet length {size} is not a multiple of 4")


def _check_outgoing(payload: bytes, *, aligned: bool) -> None:
    # Sending too much or misaligned data is our own bug, not the peer's.
    if not payload or len(payload) > MAX_PAYLOAD:
        raise ValueError(f"cannot frame a payload of {len(payload)} bytes")
    if aligned and len(payload) % 4:
        raise ValueError(f"payload length {len(payload)} is not a multiple of 4")


class AbridgedCodec(_StreamCodec):
    """Length in 4-byte words: one byte below 127, else 0x7f and three little-endian bytes.

    The client sets bit 0x80 of the first byte to ask for a quick ack; it is ignored.
    """

    name = "abridged"

    def _locate(self, view: memoryview, pos: int) -> tuple[int, int, int] | None:
        avail = len(view) - pos
        if avail < 1:
            return None
        words = view[pos] & 0x7F
        start = pos + 1
        if words == 0x7F:
            if avail < 4:
                return None
            words = view[pos + 1] | view[pos + 2] << 8 | view[pos + 3] << 16
            start = pos + 4
        size = words * 4
        _check_size(size, aligned=True)
        stop = start + size
        return (start, stop, stop) if stop <= len(view) else None

    def frame(self, payload: bytes) -> bytes:
        _check_outgoing(payload, aligned=True)
        words = len(payload) >> 2
        if words < 0x7F:
            return bytes((words,)) + payload
        return (0x7F | words << 8).to_bytes(4, "little") + payload


class IntermediateCodec(_StreamCodec):
    """A 4-byte little-endian length, then the payload.

    The length's top bit is the client's quick-ack request; it is ignored.
    """

    name = "intermediate"
    _aligned = True

    def _locate(self, view: memoryview, pos: int) -> tuple[int, int, int] | None:
        if len(view) - pos < 4:
            return None
        size = _U32.unpack_from(view, pos)[0] & _LENGTH_MASK
        _check_size(size, aligned=self._aligned)
        stop = pos + 4 + size
        return (pos + 4, stop, stop) if stop <= len(view) else None

    def frame(self, payload: bytes) -> bytes:
        _check_outgoing(payload, aligned=True)
        return _U32.pack(len(payload)) + payload


class PaddedIntermediateCodec(IntermediateCodec):
    """Intermediate whose packets end in 0-15 random bytes, so lengths leak less to observers.

    The frame says only the padded length, so `feed` returns payload *and* padding: the caller
    must take the real length from the MTProto message itself (message_data_length of an
    unencrypted message, or the length inside the decrypted data) and ignore what trails it.
    For the same reason received lengths need not be multiples of 4.
    """

    name = "padded_intermediate"
    _aligned = False

    def frame(self, payload: bytes) -> bytes:
        _check_outgoing(payload, aligned=False)
        # Below 16 so a client can drop it as (length - 24) % 16 from an encrypted packet.
        padding = os.urandom(os.urandom(1)[0] & 0x0F)
        return b"".join((_U32.pack(len(payload) + len(padding)), payload, padding))


class FullCodec(_StreamCodec):
    """length (payload + 12), seqno, payload, CRC32 of all before it; all little-endian.

    Each direction numbers its packets from 0; a gap or a bad CRC means a broken stream.
    """

    name = "full"

    def __init__(self) -> None:
        super().__init__()
        self._recv_seqno = 0
        self._send_seqno = 0

    def _locate(self, view: memoryview, pos: int) -> tuple[int, int, int] | None:
        if len(view) - pos < 8:
            return None
        total, seqno = _FULL_HEADER.unpack_from(view, pos)
        _check_size(total - 12, aligned=True)
        if seqno != self._recv_seqno:
            raise TransportError(f"full transport seqno {seqno}, expected {self._recv_seqno}")
        end = pos + total
        if end > len(view):
            return None
        (crc,) = _U32.unpack_from(view, end - 4)
        if zlib.crc32(view[pos : end - 4]) != crc:
            raise TransportError(f"full transport CRC mismatch in packet {seqno}")
        self._recv_seqno += 1
        return pos + 8, end - 4, end

    def frame(self, payload: bytes) -> bytes:
        _check_outgoing(payload, aligned=True)
        header = _FULL_HEADER.pack(len(payload) + 12, self._send_seqno)
        self._send_seqno += 1
        crc = zlib.crc32(payload, zlib.crc32(header))
        return b"".join((header, payload, _U32.pack(crc)))


_OBFUSCATED_INNER: Final[dict[bytes, type[_StreamCodec]]] = {
    _OBFUSCATED_ABRIDGED_TAG: AbridgedCodec,
    INTERMEDIATE_TAG: IntermediateCodec,
    PADDED_INTERMEDIATE_TAG: PaddedIntermediateCodec,
}


class ObfuscatedCodec:
    """AES-256-CTR over an inner codec, keyed by the client's 64-byte random opening header.

    Client-to-server key and IV are header bytes 8..40 and 40..56; server-to-client ones come
    from the same 48 bytes reversed.  Decrypting the header itself advances the inbound
    keystream by 64 bytes and reveals the inner framing's tag (bytes 56..60) and the signed
    DC id the client dialled (60..62; negative for media-only DCs).  With an MTProxy `secret`
    each key is SHA256(key + secret) instead.
    """

    def __init__(self, header: bytes, *, secret: bytes | None = None) -> None:
        if len(header) != OBFUSCATED_HEADER_SIZE:
            raise ValueError(f"obfuscated header is {OBFUSCATED_HEADER_SIZE} bytes")
        reversed_keys = header[55:7:-1]
        recv_key, recv_iv = header[8:40], header[40:56]
        send_key, send_iv = reversed_keys[:32], reversed_keys[32:48]
        if secret is not None:
            recv_key = hashlib.sha256(recv_key + secret).digest()
            send_key = hashlib.sha256(send_key + secret).digest()
        self._decryptor = Cipher(algorithms.AES(recv_key), modes.CTR(recv_iv)).decryptor()
        self._encryptor = Cipher(algorithms.AES(send_key), modes.CTR(send_iv)).encryptor()
        plain = self._decryptor.update(header)
        inner = _OBFUSCATED_INNER.get(plain[56:60])
        if inner is None:
            raise TransportError(f"unknown obfuscated transport tag {plain[56:60].hex()}")
        self.inner: _StreamCodec = inner()
        self.dc_id: int = int.from_bytes(plain[60:62], "little", signed=True)
        self.name: str = f"obfuscated_{self.inner.name}"

    def _extend(self, data: _Data) -> None:
        self.inner._extend(self._decryptor.update(data))

    def feed(self, data: _Data) -> list[bytes]:
        return self.inner.feed(self._decryptor.update(data))

    def frame(self, payload: bytes) -> bytes:
        return self._encryptor.update(self.inner.frame(payload))


def _plausible_full_length(word: bytes) -> bool:
    total = int.from_bytes(word, "little")
    return 12 < total <= MAX_PAYLOAD + 12 and total % 4 == 0


class TransportDetector:
    """Picks the transport of a new connection from its first bytes.

    `feed` returns None until it can decide, then the codec.  Bytes that came after the
    opening header are already inside the codec but not yet parsed: call `codec.feed(b"")`
    at once to get the packets they hold, since a client usually sends its first request in
    the same write as the header and then waits for the answer.
    """

    def __init__(self, *, secret: bytes | None = None) -> None:
        self._buf = bytearray()
        self._secret = secret
        self._decided = False

    def feed(self, data: _Data) -> Codec | None:
        if self._decided:
            raise RuntimeError("transport already detected; feed the codec instead")
        buf = self._buf
        buf += data
        decision = self._decide(bytes(buf[:OBFUSCATED_HEADER_SIZE]))
        if decision is None:
            return None
        codec, consumed = decision
        self._decided = True
        codec._extend(buf[consumed:])
        buf.clear()
        return codec

    def _decide(self, head: bytes) -> tuple[_StreamCodec | ObfuscatedCodec, int] | None:
        if head[:1] == ABRIDGED_TAG:
            return AbridgedCodec(), 1
        if len(head) < 4:
            return None
        first = head[:4]
        if first == INTERMEDIATE_TAG:
            return IntermediateCodec(), 4
        if first == PADDED_INTERMEDIATE_TAG:
            return PaddedIntermediateCodec(), 4
        if first in _HTTP_WORDS:
            raise TransportError("http transport not supported")
        if first == _FAKE_TLS_WORD:
            raise TransportError("fake-tls transport not supported")
        if len(head) < 8:
            return None
        # An obfuscated client must never send zeros here, so this can only be the full
        # transport's first seqno.
        if head[4:8] == b"\0\0\0\0":
            if _plausible_full_length(first):
                return FullCodec(), 0
            raise TransportError(f"implausible full transport length {first.hex()}")
        if len(head) < OBFUSCATED_HEADER_SIZE:
            return None
        return ObfuscatedCodec(head, secret=self._secret), OBFUSCATED_HEADER_SIZE
