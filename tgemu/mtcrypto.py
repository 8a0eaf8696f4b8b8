"""MTProto 2.0 message encryption as the server sees it (core.telegram.org/mtproto/description).

Pure functions: the caller owns sockets and threads.  AES-256-IGE comes from TgCrypto, which
releases the GIL, so large payloads can be encrypted on worker threads in parallel.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from dataclasses import dataclass

import tgcrypto

# x = 0 for messages from client to server, x = 8 from server to client (the spec's "x").
_CLIENT_X = 0
_SERVER_X = 8


def auth_key_id(auth_key: bytes) -> int:
    """The 64 lower-order bits of SHA1(auth_key), as the unsigned integer found on the wire."""
    return int.from_bytes(hashlib.sha1(auth_key).digest()[-8:], "little")


def _kdf(auth_key: bytes, msg_key: bytes, x: int) -> tuple[bytes, bytes]:
    sha_a = hashlib.sha256(msg_key + auth_key[x : x + 36]).digest()
    sha_b = hashlib.sha256(auth_key[40 + x : 76 + x] + msg_key).digest()
    aes_key = sha_a[:8] + sha_b[8:24] + sha_a[24:32]
    aes_iv = sha_b[:8] + sha_a[8:24] + sha_b[24:32]
    return aes_key, aes_iv


class DecryptError(Exception):
    """The packet cannot be a valid message under this key; Telegram drops such packets."""


@dataclass(frozen=True, slots=True)
class Plain:
    """A decrypted client packet: the header fields and the message body, padding removed."""

    salt: int
    session_id: int
    msg_id: int
    seqno: int
    body: bytes


def decrypt_client_packet(auth_key: bytes, packet: bytes | memoryview) -> Plain:
    """Decrypt one encrypted packet and run the spec's checks on it (security guidelines)."""
    if len(packet) < 8 + 16 + 32 + 12 or (len(packet) - 24) % 16:
        raise DecryptError("bad encrypted packet length")
    msg_key = bytes(packet[8:24])
    aes_key, aes_iv = _kdf(auth_key, msg_key, _CLIENT_X)
    plain = tgcrypto.ige256_decrypt(bytes(packet[24:]), aes_key, aes_iv)
    expected = hashlib.sha256(auth_key[88 + _CLIENT_X : 120 + _CLIENT_X] + plain).digest()[8:24]
    if not hmac.compare_digest(expected, msg_key):
        raise DecryptError("msg_key mismatch")
    salt, session_id, msg_id, seqno, length = struct.unpack_from("<qqqiI", plain, 0)
    padding = len(plain) - 32 - length
    # The length must be a multiple of 4 and leave 12..1024 bytes of padding.
    if length % 4 or not 12 <= padding <= 1024:
        raise DecryptError("bad message length")
    return Plain(salt, session_id, msg_id, seqno, plain[32 : 32 + length])


def encrypt_server_message(
    auth_key: bytes,
    key_id: bytes,
    salt: int,
    session_id: int,
    msg_id: int,
    seqno: int,
    body: bytes,
) -> bytes:
    """Build the wire form of one server message: auth_key_id + msg_key + encrypted data."""
    header = struct.pack("<qqqiI", salt, session_id, msg_id, seqno, len(body))
    # 12..1024 bytes of padding, total a multiple of 16; a little randomness in the amount
    # keeps message lengths from mirroring the payload exactly, as the spec suggests.
    base = -(len(header) + len(body) + 12) % 16 + 12
    padding = os.urandom(base + 16 * (os.urandom(1)[0] % 4))
    plain = header + body + padding
    msg_key = hashlib.sha256(auth_key[88 + _SERVER_X : 120 + _SERVER_X] + plain).digest()[8:24]
    aes_key, aes_iv = _kdf(auth_key, msg_key, _SERVER_X)
    return key_id + msg_key + bytes(tgcrypto.ige256_encrypt(plain, aes_key, aes_iv))
