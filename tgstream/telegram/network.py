"""Where each DC is, and which RSA key the server answers with.

Against real Telegram nothing here is needed: Kurigram knows the production addresses and
keys.  TG_DC_ADDRESSES and TG_RSA_PUBLIC_KEY point the same code at another MTProto server
(Telegram's test DCs, a self-hosted one, or the project's emulator).
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pyrogram.connection import Connection
from pyrogram.crypto import rsa

DcAddresses = dict[int, tuple[str, int]]


def _tl_bytes(data: bytes) -> bytes:
    head = bytes([len(data)]) if len(data) <= 253 else b"\xfe" + len(data).to_bytes(3, "little")
    return head + data + bytes(-(len(head) + len(data)) % 4)


def rsa_fingerprint(n: int, e: int) -> int:
    """Lower 64 bits of SHA1 over the TL-serialized modulus and exponent, signed."""
    serialized = _tl_bytes(n.to_bytes((n.bit_length() + 7) // 8, "big"))
    serialized += _tl_bytes(e.to_bytes((e.bit_length() + 7) // 8, "big"))
    return int.from_bytes(hashlib.sha1(serialized).digest()[-8:], "little", signed=True)


def trust_rsa_key(pem: str) -> int:
    """Add a server key to the table Kurigram looks fingerprints up in; returns the print."""
    key = load_pem_public_key(pem.encode())
    if not isinstance(key, RSAPublicKey):
        raise ValueError("TG_RSA_PUBLIC_KEY is not an RSA public key")
    numbers = key.public_numbers()
    fingerprint = rsa_fingerprint(numbers.n, numbers.e)
    rsa.server_public_keys[fingerprint] = rsa.PublicKey(numbers.n, numbers.e)
    return fingerprint


def connection_factory(addresses: DcAddresses) -> type[Connection]:
    """A Kurigram Connection that dials the configured address of each DC."""

    class RoutedConnection(Connection):  # type: ignore[misc]
        def __init__(self, dc_id: int, server_address: str, port: int, *args: Any, **kw: Any):
            host, real_port = addresses.get(dc_id, (server_address, port))
            super().__init__(dc_id, host, real_port, *args, **kw)

    return RoutedConnection
