"""A raw MTProto 2.0 client for black-box tests, written from core.telegram.org/mtproto.

Layers, bottom up:

* packet framers and stream decoders for every TCP transport (mtproto-transports): abridged,
  intermediate, padded intermediate, full (length, seqno, CRC32) and obfuscated (64-byte
  random header, AES-256-CTR) around abridged / intermediate / padded intermediate;
* `WireConnection`: one asyncio TCP connection speaking one of them;
* `KeyExchange`: auth key creation (auth_key), with RSA_PAD or the legacy SHA1 scheme;
* `Session`: encrypted messages (description) with every header field under the caller's
  control, and a receiver that checks msg_key and unwraps containers, gzip_packed and
  rpc_result.

`pyrogram.raw` is used only to build and parse TL objects; nothing here uses Kurigram's
protocol code.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import math
import os
import random
import secrets
import struct
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any, Literal, NamedTuple

import tgcrypto
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from pyrogram.raw import functions, types
from pyrogram.raw.core import TLObject

# --- transports, client side (core.telegram.org/mtproto/mtproto-transports) ------------------


def abridged_packet(payload: bytes, *, quick_ack: bool = False) -> bytes:
    words = len(payload) // 4
    ack = 0x80 if quick_ack else 0
    if words < 127:
        return bytes((words | ack,)) + payload
    return bytes((0x7F | ack,)) + words.to_bytes(3, "little") + payload


def intermediate_packet(payload: bytes, *, quick_ack: bool = False) -> bytes:
    return struct.pack("<I", len(payload) | (1 << 31 if quick_ack else 0)) + payload


def padded_packet(payload: bytes, padding: bytes) -> bytes:
    return struct.pack("<I", len(payload) + len(padding)) + payload + padding


@dataclass
class FullClient:
    seqno: int = 0

    def packet(self, payload: bytes) -> bytes:
        head = struct.pack("<II", len(payload) + 12, self.seqno) + payload
        self.seqno += 1
        return head + struct.pack("<I", zlib.crc32(head))


class _Decoder:
    """Splits a received byte stream into packets; subclasses say where the next one lies."""

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def _locate(self, buf: bytearray) -> tuple[int, int, int] | None:
        """(payload start, payload stop, packet end), or None until the packet is complete."""
        raise NotImplementedError

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while self._buf and (span := self._locate(self._buf)) is not None:
            start, stop, end = span
            out.append(bytes(self._buf[start:stop]))
            del self._buf[:end]
        return out


class AbridgedDecoder(_Decoder):
    def _locate(self, buf: bytearray) -> tuple[int, int, int] | None:
        words, start = buf[0] & 0x7F, 1
        if words == 0x7F:
            if len(buf) < 4:
                return None
            words, start = int.from_bytes(buf[1:4], "little"), 4
        end = start + 4 * words
        return (start, end, end) if len(buf) >= end else None


class IntermediateDecoder(_Decoder):
    def _locate(self, buf: bytearray) -> tuple[int, int, int] | None:
        if len(buf) < 4:
            return None
        end = 4 + (int.from_bytes(buf[:4], "little") & 0x7FFFFFFF)
        return (4, end, end) if len(buf) >= end else None


class FullDecoder(_Decoder):
    """Checks each packet's seqno (0, 1, 2, ... per direction) and CRC32."""

    def __init__(self) -> None:
        super().__init__()
        self.seqno = 0

    def _locate(self, buf: bytearray) -> tuple[int, int, int] | None:
        if len(buf) < 8:
            return None
        total, seqno = struct.unpack_from("<II", buf)
        if len(buf) < total:
            return None
        assert seqno == self.seqno, f"full transport seqno {seqno}, expected {self.seqno}"
        (crc,) = struct.unpack_from("<I", buf, total - 4)
        assert crc == zlib.crc32(buf[: total - 4]), f"bad CRC32 in full packet {seqno}"
        self.seqno += 1
        return 8, total - 4, total


def _read_all(decoder: _Decoder, stream: bytes) -> list[bytes]:
    out = decoder.feed(stream)
    assert decoder.buffered == 0, "stream ends inside a packet"
    return out


def read_abridged(stream: bytes) -> list[bytes]:
    return _read_all(AbridgedDecoder(), stream)


def read_intermediate(stream: bytes) -> list[bytes]:
    """Intermediate or padded intermediate packets, padding included."""
    return _read_all(IntermediateDecoder(), stream)


def read_full(stream: bytes) -> list[bytes]:
    return _read_all(FullDecoder(), stream)


OBFUSCATED_TAGS = {
    "abridged": b"\xef\xef\xef\xef",
    "intermediate": b"\xee\xee\xee\xee",
    "padded_intermediate": b"\xdd\xdd\xdd\xdd",
}
# What the first word of an obfuscated header must not be: HTTP verbs, the plain transports'
# tags and the TLS ClientHello opening (0x02010316).
_RESERVED_FIRST_WORDS = {
    b"HEAD",
    b"POST",
    b"GET ",
    b"OPTI",
    b"\xdd" * 4,
    b"\xee" * 4,
    b"\x16\x03\x01\x02",
}


class ObfuscatedClient:
    """The client half of transport obfuscation, written from the spec."""

    def __init__(self, tag: bytes, dc_id: int, secret: bytes | None = None) -> None:
        while True:
            nonce = bytearray(os.urandom(64))
            if (
                nonce[0] != 0xEF
                and bytes(nonce[:4]) not in _RESERVED_FIRST_WORDS
                and nonce[4:8] != bytes(4)
            ):
                break
        nonce[56:60] = tag
        nonce[60:62] = dc_id.to_bytes(2, "little", signed=True)
        reverse = bytes(nonce[55:7:-1])
        send_key, recv_key = bytes(nonce[8:40]), reverse[:32]
        if secret is not None:
            send_key = hashlib.sha256(send_key + secret).digest()
            recv_key = hashlib.sha256(recv_key + secret).digest()
        self._enc: CipherContext = Cipher(
            algorithms.AES(send_key), modes.CTR(bytes(nonce[40:56]))
        ).encryptor()
        self._dec: CipherContext = Cipher(
            algorithms.AES(recv_key), modes.CTR(reverse[32:48])
        ).decryptor()
        self.header = bytes(nonce[:56]) + self._enc.update(bytes(nonce))[56:]

    def wrap(self, data: bytes) -> bytes:
        return self._enc.update(data)

    def unwrap(self, data: bytes) -> bytes:
        return self._dec.update(data)


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


class Framing:
    """One connection's transport, client side: opening bytes, packing and decoding."""

    name: str

    def opening(self) -> bytes:
        return b""

    def pack(self, payload: bytes) -> bytes:
        raise NotImplementedError

    def feed(self, data: bytes) -> list[bytes]:
        raise NotImplementedError


class AbridgedFraming(Framing):
    name = "abridged"

    def __init__(self, tagged: bool = True) -> None:
        self._tagged = tagged
        self._decoder = AbridgedDecoder()

    def opening(self) -> bytes:
        return b"\xef" if self._tagged else b""

    def pack(self, payload: bytes) -> bytes:
        return abridged_packet(payload)

    def feed(self, data: bytes) -> list[bytes]:
        return self._decoder.feed(data)


class IntermediateFraming(Framing):
    name = "intermediate"

    def __init__(self, tagged: bool = True) -> None:
        self._tagged = tagged
        self._decoder = IntermediateDecoder()

    def opening(self) -> bytes:
        return OBFUSCATED_TAGS[self.name] if self._tagged else b""

    def pack(self, payload: bytes) -> bytes:
        return intermediate_packet(payload)

    def feed(self, data: bytes) -> list[bytes]:
        return self._decoder.feed(data)


class PaddedIntermediateFraming(IntermediateFraming):
    name = "padded_intermediate"

    def pack(self, payload: bytes) -> bytes:
        # 1-15 bytes, never 0, so a server that does not strip the padding cannot pass by luck.
        return padded_packet(payload, os.urandom(1 + secrets.randbelow(15)))

    def feed(self, data: bytes) -> list[bytes]:
        return [strip_transport_padding(p) for p in self._decoder.feed(data)]


class FullFraming(Framing):
    name = "full"

    def __init__(self) -> None:
        self._client = FullClient()
        self._decoder = FullDecoder()

    def pack(self, payload: bytes) -> bytes:
        return self._client.packet(payload)

    def feed(self, data: bytes) -> list[bytes]:
        return self._decoder.feed(data)


class ObfuscatedFraming(Framing):
    def __init__(self, inner: Framing, dc_id: int) -> None:
        self.name = f"obfuscated_{inner.name}"
        self._inner = inner
        self._client = ObfuscatedClient(OBFUSCATED_TAGS[inner.name], dc_id)

    def opening(self) -> bytes:
        return self._client.header

    def pack(self, payload: bytes) -> bytes:
        return self._client.wrap(self._inner.pack(payload))

    def feed(self, data: bytes) -> list[bytes]:
        return self._inner.feed(self._client.unwrap(data))


TRANSPORTS = [
    "abridged",
    "intermediate",
    "padded_intermediate",
    "full",
    "obfuscated_abridged",
    "obfuscated_intermediate",
    "obfuscated_padded_intermediate",
]


def make_framing(kind: str, dc_id: int) -> Framing:
    plain: dict[str, Callable[[bool], Framing]] = {
        "abridged": AbridgedFraming,
        "intermediate": IntermediateFraming,
        "padded_intermediate": PaddedIntermediateFraming,
    }
    if kind == "full":
        return FullFraming()
    if kind in plain:
        return plain[kind](True)
    inner = kind.removeprefix("obfuscated_")
    if kind.startswith("obfuscated_") and inner in plain:
        return ObfuscatedFraming(plain[inner](False), dc_id)
    raise ValueError(f"unknown transport {kind!r}")


def transport_error_code(payload: bytes) -> int | None:
    """The code of a 4-byte transport error payload (e.g. -404), else None."""
    return int.from_bytes(payload, "little", signed=True) if len(payload) == 4 else None


class ConnectionClosed(ConnectionError):
    """The server closed the connection."""


class TransportErrorReceived(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"transport error {code}")
        self.code = code


class WireConnection:
    """One TCP connection to a DC, speaking one transport."""

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
        self._pending.extend(self.framing.feed(data))

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


# --- TL helpers ---------------------------------------------------------------------------------

MSG_CONTAINER = 0x73F1F8DC
GZIP_PACKED = 0x3072CFA1
RPC_RESULT = 0xF35C6D01
MSGS_STATE_INFO = 0x04DEB57D
LAYER = 229


def tl_bytes(data: bytes) -> bytes:
    """TL `bytes`/`string`: length prefix (1 byte, or 0xfe + 3 bytes), data, zero padding to 4."""
    head = bytes((len(data),)) if len(data) <= 253 else b"\xfe" + len(data).to_bytes(3, "little")
    return head + data + bytes(-(len(head) + len(data)) % 4)


def read_tl_bytes(stream: BytesIO) -> bytes:
    first = stream.read(1)[0]
    if first <= 253:
        length, head = first, 1
    else:
        length, head = int.from_bytes(stream.read(3), "little"), 4
    data = stream.read(length)
    stream.read(-(head + length) % 4)
    return data


def gzip_packed(data: bytes) -> bytes:
    return struct.pack("<I", GZIP_PACKED) + tl_bytes(gzip.compress(data))


def serialize(obj: TLObject | bytes) -> bytes:
    if isinstance(obj, bytes):
        return obj
    data: bytes = obj.write()
    return data


def constructor_of(body: bytes) -> int:
    return int.from_bytes(body[:4], "little")


def with_layer(query: TLObject, api_id: int) -> TLObject:
    """invokeWithLayer(229, initConnection(...query)), as a client's first request."""
    return functions.InvokeWithLayer(
        layer=LAYER,
        query=functions.InitConnection(
            api_id=api_id,
            device_model="wire",
            system_version="1.0",
            app_version="1.0",
            system_lang_code="en",
            lang_pack="",
            lang_code="en",
            query=query,
        ),
    )


# --- auth key creation (core.telegram.org/mtproto/auth_key) ------------------------------------

# The dh_prime the spec publishes (auth_key, step 6): clients may keep a table of known safe
# primes instead of testing primality on every exchange.
KNOWN_DH_PRIME = int(
    "C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F"
    "48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C37"
    "20FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F64"
    "2477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4"
    "A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754"
    "FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4"
    "E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F"
    "0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5B",
    16,
)
_DH_SAFETY = 1 << (2048 - 64)

RsaScheme = Literal["rsa_pad", "legacy"]


def factor_pq(pq: int) -> tuple[int, int]:
    """p < q with p * q == pq, by Pollard's rho with Brent's cycle detection."""
    if pq % 2 == 0:
        return 2, pq // 2
    while True:
        y, c, step = random.randrange(1, pq), random.randrange(1, pq), 128
        g, r, product = 1, 1, 1
        x = saved = y
        while g == 1:
            x = y
            for _ in range(r):
                y = (y * y + c) % pq
            k = 0
            while k < r and g == 1:
                saved = y
                for _ in range(min(step, r - k)):
                    y = (y * y + c) % pq
                    product = product * abs(x - y) % pq
                g = math.gcd(product, pq)
                k += step
            r *= 2
        if g == pq:
            g = 1
            while g == 1:
                saved = (saved * saved + c) % pq
                g = math.gcd(abs(x - saved), pq)
        if 1 < g < pq:
            p, q = sorted((g, pq // g))
            return p, q


def _magnitude(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


@dataclass(frozen=True)
class ServerKey:
    """A server's RSA public key and its fingerprint, computed as the spec defines it."""

    n: int
    e: int

    @classmethod
    def from_pem(cls, pem: str) -> ServerKey:
        key = serialization.load_pem_public_key(pem.encode())
        assert isinstance(key, rsa.RSAPublicKey)
        numbers = key.public_numbers()
        return cls(numbers.n, numbers.e)

    @property
    def fingerprint(self) -> int:
        # 64 lower-order bits of SHA1(rsa_public_key n:string e:string), as a signed long.
        digest = hashlib.sha1(tl_bytes(_magnitude(self.n)) + tl_bytes(_magnitude(self.e)))
        return int.from_bytes(digest.digest()[-8:], "little", signed=True)

    def _raw(self, block: bytes) -> bytes:
        return pow(int.from_bytes(block, "big"), self.e, self.n).to_bytes(256, "big")

    def encrypt_rsa_pad(self, data: bytes) -> bytes:
        """RSA_PAD(data, server_public_key), auth_key step 4.1."""
        assert len(data) <= 144
        data_with_padding = data + os.urandom(192 - len(data))
        data_pad_reversed = data_with_padding[::-1]
        while True:
            temp_key = os.urandom(32)
            data_with_hash = (
                data_pad_reversed + hashlib.sha256(temp_key + data_with_padding).digest()
            )
            aes_encrypted = bytes(tgcrypto.ige256_encrypt(data_with_hash, temp_key, bytes(32)))
            mask = hashlib.sha256(aes_encrypted).digest()
            temp_key_xor = bytes(a ^ b for a, b in zip(temp_key, mask, strict=True))
            key_aes_encrypted = temp_key_xor + aes_encrypted
            if int.from_bytes(key_aes_encrypted, "big") < self.n:
                return self._raw(key_aes_encrypted)

    def encrypt_legacy(self, data: bytes) -> bytes:
        """The older scheme: RSA(SHA1(data) + data + random bytes up to 255 bytes)."""
        assert len(data) <= 255 - 20
        return self._raw(hashlib.sha1(data).digest() + data + os.urandom(255 - 20 - len(data)))


def _int_bytes(value: int, size: int) -> bytes:
    return value.to_bytes(size, "little", signed=True)


def tmp_aes(new_nonce: bytes, server_nonce: bytes) -> tuple[bytes, bytes]:
    """tmp_aes_key and tmp_aes_iv of auth_key step 6."""
    ns = hashlib.sha1(new_nonce + server_nonce).digest()
    sn = hashlib.sha1(server_nonce + new_nonce).digest()
    nn = hashlib.sha1(new_nonce + new_nonce).digest()
    return ns + sn[:12], sn[12:20] + nn + new_nonce[:4]


def new_nonce_hash(new_nonce: bytes, number: int, auth_key: bytes) -> int:
    """new_nonce_hash1/2/3: the 128 lower-order bits of SHA1(new_nonce + n + aux_hash)."""
    aux_hash = hashlib.sha1(auth_key).digest()[:8]
    digest = hashlib.sha1(new_nonce + bytes((number,)) + aux_hash).digest()
    return int.from_bytes(digest[-16:], "little", signed=True)


def _quadratic_residue_condition(g: int, p: int) -> bool:
    return {
        2: p % 8 == 7,
        3: p % 3 == 2,
        4: True,
        5: p % 5 in (1, 4),
        6: p % 24 in (19, 23),
        7: p % 7 in (3, 5, 6),
    }.get(g, False)


@dataclass(frozen=True)
class AuthKey:
    auth_key: bytes
    server_salt: int
    server_time: int
    dc_id: int

    @property
    def key_id(self) -> bytes:
        """auth_key_id as on the wire: the 64 lower-order bits of SHA1(auth_key)."""
        return hashlib.sha1(self.auth_key).digest()[-8:]


@dataclass
class DhParams:
    """What the client knows after a verified server_DH_params_ok."""

    nonce: int
    server_nonce: int
    new_nonce: bytes
    g: int
    dh_prime: int
    g_a: int
    server_time: int


class KeyExchange:
    """The client side of auth key creation, one step per method so tests can break any."""

    def __init__(
        self,
        connection: WireConnection,
        server_key: ServerKey,
        dc_id: int,
        *,
        scheme: RsaScheme = "rsa_pad",
    ) -> None:
        self.connection = connection
        self.server_key = server_key
        self.dc_id = dc_id
        self.scheme = scheme
        self.clock = MsgIdClock()
        self.nonce = int.from_bytes(os.urandom(16), "little", signed=True)

    async def call(self, request: TLObject, within: float = 10.0) -> Any:
        """Send an unencrypted message; its answer, parsed.  TransportErrorReceived on -N."""
        body = serialize(request)
        await self.connection.send(
            bytes(8) + struct.pack("<qI", self.clock.next(), len(body)) + body
        )
        payload = await self.connection.recv(within)
        code = transport_error_code(payload)
        if code is not None:
            raise TransportErrorReceived(code)
        assert payload[:8] == bytes(8), "the answer to an unencrypted message is encrypted"
        msg_id, length = struct.unpack_from("<qI", payload, 8)
        assert msg_id % 4 == 1, f"server msg_id {msg_id:#x} is not a response's (1 mod 4)"
        assert len(payload) == 20 + length
        return TLObject.read(BytesIO(payload[20:]))

    async def req_pq(self) -> Any:
        res_pq = await self.call(functions.ReqPqMulti(nonce=self.nonce))
        assert isinstance(res_pq, types.ResPQ)
        assert res_pq.nonce == self.nonce
        return res_pq

    async def req_dh_params(self, res_pq: Any, *, fingerprint: int | None = None) -> DhParams:
        pq = int.from_bytes(res_pq.pq, "big")
        p, q = factor_pq(pq)
        assert self.server_key.fingerprint in res_pq.server_public_key_fingerprints
        new_nonce = os.urandom(32)
        p_bytes, q_bytes = _magnitude(p), _magnitude(q)
        inner = types.PQInnerDataDc(
            pq=res_pq.pq,
            p=p_bytes,
            q=q_bytes,
            nonce=self.nonce,
            server_nonce=res_pq.server_nonce,
            new_nonce=int.from_bytes(new_nonce, "little", signed=True),
            dc=self.dc_id,
        ).write()
        if self.scheme == "rsa_pad":
            encrypted = self.server_key.encrypt_rsa_pad(inner)
        else:
            encrypted = self.server_key.encrypt_legacy(inner)
        answer = await self.call(
            functions.ReqDHParams(
                nonce=self.nonce,
                server_nonce=res_pq.server_nonce,
                p=p_bytes,
                q=q_bytes,
                public_key_fingerprint=(
                    self.server_key.fingerprint if fingerprint is None else fingerprint
                ),
                encrypted_data=encrypted,
            )
        )
        assert isinstance(answer, types.ServerDHParamsOk), answer
        assert (answer.nonce, answer.server_nonce) == (self.nonce, res_pq.server_nonce)
        key, iv = tmp_aes(new_nonce, _int_bytes(res_pq.server_nonce, 16))
        plain = bytes(tgcrypto.ige256_decrypt(answer.encrypted_answer, key, iv))
        stream = BytesIO(plain[20:])
        inner_dh = TLObject.read(stream)
        assert isinstance(inner_dh, types.ServerDHInnerData)
        length = stream.tell()
        assert hashlib.sha1(plain[20 : 20 + length]).digest() == plain[:20], "answer hash"
        assert len(plain) - 20 - length < 16, "more than 15 padding bytes in encrypted_answer"
        assert (inner_dh.nonce, inner_dh.server_nonce) == (self.nonce, res_pq.server_nonce)
        dh_prime = int.from_bytes(inner_dh.dh_prime, "big")
        g_a = int.from_bytes(inner_dh.g_a, "big")
        assert dh_prime == KNOWN_DH_PRIME, "dh_prime is not the known safe prime"
        assert _quadratic_residue_condition(inner_dh.g, dh_prime), f"bad g {inner_dh.g}"
        assert 1 < g_a < dh_prime - 1
        assert _DH_SAFETY <= g_a <= dh_prime - _DH_SAFETY
        return DhParams(
            self.nonce,
            res_pq.server_nonce,
            new_nonce,
            inner_dh.g,
            dh_prime,
            g_a,
            inner_dh.server_time,
        )

    async def set_client_dh_params(
        self, params: DhParams, *, retry_id: int = 0, g_b: int | None = None
    ) -> tuple[Any, bytes]:
        """Send g_b (a fresh one unless given); the server's answer and the client's auth_key."""
        while True:
            b = int.from_bytes(os.urandom(256), "big")
            own_g_b = pow(params.g, b, params.dh_prime)
            if _DH_SAFETY <= own_g_b <= params.dh_prime - _DH_SAFETY:
                break
        sent_g_b = own_g_b if g_b is None else g_b
        data = types.ClientDHInnerData(
            nonce=params.nonce,
            server_nonce=params.server_nonce,
            retry_id=retry_id,
            g_b=_magnitude(sent_g_b),
        ).write()
        with_hash = hashlib.sha1(data).digest() + data
        with_hash += os.urandom(-len(with_hash) % 16)
        key, iv = tmp_aes(params.new_nonce, _int_bytes(params.server_nonce, 16))
        answer = await self.call(
            functions.SetClientDHParams(
                nonce=params.nonce,
                server_nonce=params.server_nonce,
                encrypted_data=bytes(tgcrypto.ige256_encrypt(with_hash, key, iv)),
            )
        )
        auth_key = pow(params.g_a, b, params.dh_prime).to_bytes(256, "big")
        return answer, auth_key

    async def run(self) -> AuthKey:
        params = await self.req_dh_params(await self.req_pq())
        retry_id = 0
        for _ in range(5):
            answer, auth_key = await self.set_client_dh_params(params, retry_id=retry_id)
            assert (answer.nonce, answer.server_nonce) == (params.nonce, params.server_nonce)
            if isinstance(answer, types.DhGenOk):
                assert answer.new_nonce_hash1 == new_nonce_hash(params.new_nonce, 1, auth_key)
                server_nonce = _int_bytes(params.server_nonce, 16)
                salt = bytes(
                    a ^ b for a, b in zip(params.new_nonce[:8], server_nonce[:8], strict=True)
                )
                return AuthKey(
                    auth_key,
                    int.from_bytes(salt, "little", signed=True),
                    params.server_time,
                    self.dc_id,
                )
            assert isinstance(answer, types.DhGenRetry), answer
            assert answer.new_nonce_hash2 == new_nonce_hash(params.new_nonce, 2, auth_key)
            retry_id = int.from_bytes(hashlib.sha1(auth_key).digest()[:8], "little", signed=True)
        raise AssertionError("dh_gen_retry five times in a row")


# --- encrypted messages (core.telegram.org/mtproto/description) --------------------------------


def msg_id_at(unixtime: float) -> int:
    """A client msg_id for a moment: unixtime * 2^32, divisible by 4."""
    return int(unixtime * 2**32) & ~3


class MsgIdClock:
    """Strictly increasing client msg_ids close to unixtime * 2^32."""

    def __init__(self) -> None:
        self.last = 0

    def next(self) -> int:
        value = msg_id_at(time.time())
        if value <= self.last:
            value = self.last + 4
        self.last = value
        return value


def kdf(auth_key: bytes, msg_key: bytes, x: int) -> tuple[bytes, bytes]:
    """aes_key and aes_iv for MTProto 2.0; x = 0 client to server, 8 server to client."""
    sha256_a = hashlib.sha256(msg_key + auth_key[x : x + 36]).digest()
    sha256_b = hashlib.sha256(auth_key[40 + x : 76 + x] + msg_key).digest()
    aes_key = sha256_a[:8] + sha256_b[8:24] + sha256_a[24:32]
    aes_iv = sha256_b[:8] + sha256_a[8:24] + sha256_b[24:32]
    return aes_key, aes_iv


def msg_key_for(auth_key: bytes, plaintext: bytes, x: int) -> bytes:
    """The middle 128 bits of SHA256(substr(auth_key, 88 + x, 32) + plaintext)."""
    return hashlib.sha256(auth_key[88 + x : 120 + x] + plaintext).digest()[8:24]


def default_padding(body_length: int) -> bytes:
    """12..1024 random bytes making the 32-byte header + body + padding a multiple of 16."""
    size = 12 + (-(32 + body_length + 12) % 16) + 16 * secrets.randbelow(4)
    return os.urandom(size)


def encrypt_message(
    key: AuthKey,
    body: bytes,
    *,
    salt: int,
    session_id: int,
    msg_id: int,
    seqno: int,
    padding: bytes | None = None,
) -> bytes:
    if padding is None:
        padding = default_padding(len(body))
    plaintext = struct.pack("<qqqiI", salt, session_id, msg_id, seqno, len(body)) + body + padding
    msg_key = msg_key_for(key.auth_key, plaintext, 0)
    aes_key, aes_iv = kdf(key.auth_key, msg_key, 0)
    return key.key_id + msg_key + bytes(tgcrypto.ige256_encrypt(plaintext, aes_key, aes_iv))


@dataclass(frozen=True)
class Decrypted:
    salt: int
    session_id: int
    msg_id: int
    seqno: int
    body: bytes


def decrypt_message(key: AuthKey, payload: bytes) -> Decrypted:
    """Decrypt a server payload and run the receiver's checks (description, security)."""
    code = transport_error_code(payload)
    if code is not None:
        raise TransportErrorReceived(code)
    assert payload[:8] == key.key_id, "payload under another auth_key_id"
    assert (len(payload) - 24) % 16 == 0 and len(payload) >= 24 + 32 + 16
    msg_key = payload[8:24]
    aes_key, aes_iv = kdf(key.auth_key, msg_key, 8)
    plaintext = bytes(tgcrypto.ige256_decrypt(payload[24:], aes_key, aes_iv))
    assert msg_key_for(key.auth_key, plaintext, 8) == msg_key, "msg_key mismatch"
    salt, session_id, msg_id, seqno, length = struct.unpack_from("<qqqiI", plaintext)
    padding = len(plaintext) - 32 - length
    assert length % 4 == 0, f"message_data_length {length} is not a multiple of 4"
    assert 12 <= padding <= 1024, f"{padding} bytes of padding (MTProto 2.0 wants 12..1024)"
    return Decrypted(salt, session_id, msg_id, seqno, plaintext[32 : 32 + length])


@dataclass(frozen=True)
class RpcResult:
    """rpc_result, unwrapped: `gzipped` tells whether its result came as gzip_packed."""

    req_msg_id: int
    result: Any
    gzipped: bool
    raw: bytes


@dataclass(frozen=True)
class StateInfo:
    """msgs_state_info with `info` as the bytes on the wire (one status byte per msg_id)."""

    req_msg_id: int
    info: bytes


@dataclass(frozen=True)
class Unparsed:
    raw: bytes


class Message(NamedTuple):
    msg_id: int
    seqno: int
    obj: Any


def parse_object(body: bytes) -> Any:
    constructor = constructor_of(body)
    if constructor == GZIP_PACKED:
        return parse_object(gzip.decompress(read_tl_bytes(BytesIO(body[4:]))))
    if constructor == MSGS_STATE_INFO:
        stream = BytesIO(body[4:])
        (req_msg_id,) = struct.unpack("<q", stream.read(8))
        return StateInfo(req_msg_id, read_tl_bytes(stream))
    try:
        return TLObject.read(BytesIO(body))
    except Exception:
        return Unparsed(body)


def unwrap(msg_id: int, seqno: int, body: bytes) -> list[Message]:
    """One server message as the list of messages it carries (containers are flattened)."""
    constructor = constructor_of(body)
    if constructor == MSG_CONTAINER:
        (count,) = struct.unpack_from("<i", body, 4)
        offset, out = 8, []
        for _ in range(count):
            inner_id, inner_seqno, length = struct.unpack_from("<qiI", body, offset)
            inner = body[offset + 16 : offset + 16 + length]
            assert len(inner) == length, "container overrun"
            assert constructor_of(inner) != MSG_CONTAINER, "nested container from the server"
            out += unwrap(inner_id, inner_seqno, inner)
            offset += 16 + length
        assert offset == len(body), "trailing bytes after the container's messages"
        return out
    if constructor == GZIP_PACKED:
        return unwrap(msg_id, seqno, gzip.decompress(read_tl_bytes(BytesIO(body[4:]))))
    if constructor == RPC_RESULT:
        (req_msg_id,) = struct.unpack_from("<q", body, 4)
        raw = body[12:]
        gzipped = constructor_of(raw) == GZIP_PACKED
        if gzipped:
            raw = gzip.decompress(read_tl_bytes(BytesIO(raw[4:])))
        return [Message(msg_id, seqno, RpcResult(req_msg_id, parse_object(raw), gzipped, raw))]
    return [Message(msg_id, seqno, parse_object(body))]


@dataclass
class Packet:
    """One decrypted server payload: its header and the messages it carried."""

    salt: int
    session_id: int
    msg_id: int
    seqno: int
    body: bytes
    messages: list[Message]
    received_at: float

    @property
    def is_container(self) -> bool:
        return constructor_of(self.body) == MSG_CONTAINER


def answers(obj: Any, msg_id: int) -> bool:
    """Whether a server object is the answer (or a notice) about client message `msg_id`."""
    if isinstance(obj, RpcResult | StateInfo):
        return obj.req_msg_id == msg_id
    if isinstance(obj, types.Pong):
        return bool(obj.msg_id == msg_id)
    if isinstance(obj, types.BadMsgNotification | types.BadServerSalt):
        return bool(obj.bad_msg_id == msg_id)
    req_msg_id = getattr(obj, "req_msg_id", None)  # future_salts
    return req_msg_id == msg_id


@dataclass
class Outgoing:
    """A message to put in a container: body, and header fields left None are generated."""

    body: TLObject | bytes
    content_related: bool = True
    msg_id: int | None = None
    seqno: int | None = None


@dataclass
class Session:
    """One MTProto session over one connection; every header field can be overridden."""

    connection: WireConnection
    key: AuthKey
    salt: int = 0
    session_id: int = field(default_factory=lambda: secrets.randbits(63))
    clock: MsgIdClock = field(default_factory=MsgIdClock)
    content_sent: int = 0
    # Server packets for any of these session_ids are accepted (tests multiplexing sessions).
    session_ids: set[int] = field(default_factory=set)
    packets: list[Packet] = field(default_factory=list)
    backlog: list[Message] = field(default_factory=list)
    # (msg_id, seqno) of the last message sent.
    last_sent: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        if self.salt == 0:
            self.salt = self.key.server_salt
        self.session_ids.add(self.session_id)

    def next_msg_id(self) -> int:
        return self.clock.next()

    def next_seqno(self, content_related: bool) -> int:
        """Twice the content-related messages sent before, plus one for a content-related one."""
        if content_related:
            self.content_sent += 1
            return self.content_sent * 2 - 1
        return self.content_sent * 2

    async def send(
        self,
        body: TLObject | bytes,
        *,
        content_related: bool = True,
        msg_id: int | None = None,
        seqno: int | None = None,
        salt: int | None = None,
        session_id: int | None = None,
        padding: bytes | None = None,
    ) -> int:
        """Encrypt and send one message; returns its msg_id."""
        msg_id = self.next_msg_id() if msg_id is None else msg_id
        seqno = self.next_seqno(content_related) if seqno is None else seqno
        self.last_sent = (msg_id, seqno)
        await self.connection.send(
            encrypt_message(
                self.key,
                serialize(body),
                salt=self.salt if salt is None else salt,
                session_id=self.session_id if session_id is None else session_id,
                msg_id=msg_id,
                seqno=seqno,
                padding=padding,
            )
        )
        return msg_id

    def container_body(self, messages: Sequence[Outgoing]) -> tuple[bytes, list[int]]:
        """A msg_container body; inner messages get msg_ids and seqnos where not given."""
        parts = [struct.pack("<Ii", MSG_CONTAINER, len(messages))]
        ids = []
        for message in messages:
            body = serialize(message.body)
            msg_id = self.next_msg_id() if message.msg_id is None else message.msg_id
            seqno = (
                self.next_seqno(message.content_related) if message.seqno is None else message.seqno
            )
            parts.append(struct.pack("<qiI", msg_id, seqno, len(body)) + body)
            ids.append(msg_id)
        return b"".join(parts), ids

    async def send_container(
        self, messages: Sequence[Outgoing], *, msg_id: int | None = None, seqno: int | None = None
    ) -> tuple[int, list[int]]:
        """Send a container (not content-related); its msg_id and the inner msg_ids."""
        body, ids = self.container_body(messages)
        container_id = await self.send(body, content_related=False, msg_id=msg_id, seqno=seqno)
        return container_id, ids

    async def receive(self, within: float = 5.0) -> list[Message]:
        """Decrypt the next server payload; the messages it carries (also kept in backlog)."""
        payload = await self.connection.recv(within)
        plain = decrypt_message(self.key, payload)
        assert plain.session_id in self.session_ids, "a message for another session"
        messages = unwrap(plain.msg_id, plain.seqno, plain.body)
        self.packets.append(
            Packet(
                plain.salt,
                plain.session_id,
                plain.msg_id,
                plain.seqno,
                plain.body,
                messages,
                time.monotonic(),
            )
        )
        self.backlog += messages
        return messages

    async def wait_for(self, match: Callable[[Message], bool], within: float = 5.0) -> Message:
        """The first received message matching `match` (taken out of the backlog)."""
        async with asyncio.timeout(within):
            while True:
                for index, message in enumerate(self.backlog):
                    if match(message):
                        return self.backlog.pop(index)
                await self.receive(within)

    async def answer(self, msg_id: int, within: float = 5.0) -> Any:
        """The server's answer or notice about client message `msg_id`."""
        message = await self.wait_for(lambda m: answers(m.obj, msg_id), within)
        return message.obj

    async def call(self, query: TLObject | bytes, within: float = 5.0) -> Any:
        """Send a content-related message and return what answers it."""
        return await self.answer(await self.send(query), within)

    def received(self) -> list[Message]:
        """Every message received so far, in arrival order."""
        return [message for packet in self.packets for message in packet.messages]


async def create_auth_key(
    address: tuple[str, int],
    server_key: ServerKey,
    dc_id: int,
    *,
    kind: str = "intermediate",
    scheme: RsaScheme = "rsa_pad",
) -> AuthKey:
    """A new auth key on its own connection."""
    connection = await WireConnection.open(address, kind, dc_id)
    try:
        return await KeyExchange(connection, server_key, dc_id, scheme=scheme).run()
    finally:
        await connection.close()
