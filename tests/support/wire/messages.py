"""MTProto messages (core.telegram.org/mtproto/description), without I/O.

msg_ids, the unencrypted envelope of the key exchange, the encrypted envelope with every header
field under the caller's control, and the receiver's side: the checks a client makes on a
server payload, and containers, gzip_packed and rpc_result unwrapped into messages.

TL objects and primitives are Kurigram's (pyrogram.raw), and so are the AES-IGE and the
MTProto 2.0 key derivation (pyrogram.crypto): the emulator has its own of the latter
(tgemu/mtcrypto.py), and Kurigram's is the one real Telegram accepts.  The envelope layout and
the receiver's checks are written here from the spec, since they are what the tests examine.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import secrets
import time
from dataclasses import dataclass
from io import BytesIO
from typing import Any, Final, NamedTuple

from pyrogram.crypto import aes, mtproto
from pyrogram.raw import types
from pyrogram.raw.core import Bytes, GzipPacked, Int, Long, MsgContainer, TLObject

from .transports import raise_transport_error

MSG_CONTAINER: Final[int] = MsgContainer.ID
GZIP_PACKED: Final[int] = GzipPacked.ID
RPC_RESULT: Final[int] = types.RpcResult.ID
MSGS_STATE_INFO: Final[int] = types.MsgsStateInfo.ID


def serialize(obj: TLObject | bytes) -> bytes:
    if isinstance(obj, bytes):
        return obj
    data: bytes = obj.write()
    return data


def constructor_of(body: bytes) -> int:
    return int.from_bytes(body[:4], "little")


# --- msg_ids ------------------------------------------------------------------------------------


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


# --- unencrypted messages (the key exchange) ----------------------------------------------------


def plain_message(msg_id: int, body: bytes) -> bytes:
    """auth_key_id 0, msg_id, length, body."""
    return bytes(Long(0) + Long(msg_id) + Int(len(body)) + body)


def read_plain_message(payload: bytes) -> Any:
    """The object in a server's unencrypted message, after the receiver's checks."""
    raise_transport_error(payload)
    assert payload[:8] == bytes(8), "the answer to an unencrypted message is encrypted"
    stream = BytesIO(payload[8:])
    msg_id, length = Long.read(stream), Int.read(stream, False)
    assert msg_id % 4 == 1, f"server msg_id {msg_id:#x} is not a response's (1 mod 4)"
    assert len(payload) == 20 + length
    return TLObject.read(stream)


# --- encrypted messages -------------------------------------------------------------------------


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
    header = Long(salt) + Long(session_id) + Long(msg_id) + Int(seqno) + Int(len(body))
    plaintext = bytes(header) + body + padding
    msg_key = msg_key_for(key.auth_key, plaintext, 0)
    aes_key, aes_iv = mtproto.kdf(key.auth_key, msg_key, True)
    return key.key_id + msg_key + bytes(aes.ige256_encrypt(plaintext, aes_key, aes_iv))


@dataclass(frozen=True)
class Decrypted:
    salt: int
    session_id: int
    msg_id: int
    seqno: int
    body: bytes


def decrypt_message(key: AuthKey, payload: bytes) -> Decrypted:
    """Decrypt a server payload and run the receiver's checks (description, security)."""
    raise_transport_error(payload)
    assert payload[:8] == key.key_id, "payload under another auth_key_id"
    assert (len(payload) - 24) % 16 == 0 and len(payload) >= 24 + 32 + 16
    msg_key = payload[8:24]
    aes_key, aes_iv = mtproto.kdf(key.auth_key, msg_key, False)
    plaintext = bytes(aes.ige256_decrypt(payload[24:], aes_key, aes_iv))
    assert msg_key_for(key.auth_key, plaintext, 8) == msg_key, "msg_key mismatch"
    stream = BytesIO(plaintext)
    salt, session_id, msg_id = Long.read(stream), Long.read(stream), Long.read(stream)
    seqno, length = Int.read(stream), Int.read(stream, False)
    padding = len(plaintext) - 32 - length
    assert length % 4 == 0, f"message_data_length {length} is not a multiple of 4"
    assert 12 <= padding <= 1024, f"{padding} bytes of padding (MTProto 2.0 wants 12..1024)"
    return Decrypted(salt, session_id, msg_id, seqno, plaintext[32 : 32 + length])


# --- what a server message carries --------------------------------------------------------------


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


def _gunzip(body: bytes) -> bytes:
    """The object inside a gzip_packed body."""
    return gzip.decompress(Bytes.read(BytesIO(body[4:])))


def parse_object(body: bytes) -> Any:
    constructor = constructor_of(body)
    if constructor == GZIP_PACKED:
        return parse_object(_gunzip(body))
    if constructor == MSGS_STATE_INFO:
        # Kurigram reads `info` as a str; the status bytes are wanted as they are.
        stream = BytesIO(body[4:])
        return StateInfo(Long.read(stream), Bytes.read(stream))
    try:
        return TLObject.read(BytesIO(body))
    except Exception:
        return Unparsed(body)


def unwrap(msg_id: int, seqno: int, body: bytes) -> list[Message]:
    """One server message as the list of messages it carries (containers are flattened)."""
    constructor = constructor_of(body)
    if constructor == MSG_CONTAINER:
        stream = BytesIO(body[4:])
        out = []
        for _ in range(Int.read(stream)):
            inner_id, inner_seqno, length = Long.read(stream), Int.read(stream), Int.read(stream)
            inner = stream.read(length)
            assert len(inner) == length, "container overrun"
            assert constructor_of(inner) != MSG_CONTAINER, "nested container from the server"
            out += unwrap(inner_id, inner_seqno, inner)
        assert stream.tell() + 4 == len(body), "trailing bytes after the container's messages"
        return out
    if constructor == GZIP_PACKED:
        return unwrap(msg_id, seqno, _gunzip(body))
    if constructor == RPC_RESULT:
        req_msg_id = Long.read(BytesIO(body[4:12]))
        raw = body[12:]
        gzipped = constructor_of(raw) == GZIP_PACKED
        if gzipped:
            raw = _gunzip(raw)
        return [Message(msg_id, seqno, RpcResult(req_msg_id, parse_object(raw), gzipped, raw))]
    return [Message(msg_id, seqno, parse_object(body))]


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
