"""Where each DC is, and which RSA key the server answers with.

Against real Telegram nothing here is needed: Kurigram knows the production addresses and
keys.  TG_DC_ADDRESSES and TG_RSA_PUBLIC_KEY point the same code at another MTProto server
(Telegram's test DCs, a self-hosted one, or the project's emulator); the parsers of both
settings live here, beside their one user.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pyrogram.connection import Connection
from pyrogram.connection.transport import TCPAbridged
from pyrogram.crypto import rsa
from pyrogram.raw.core.primitives import Bytes

DcAddresses = dict[int, tuple[str, int]]

_DIGITS = re.compile(r"[0-9]+")
_EXAMPLE = "like 1=127.0.0.1:40001,2=[::1]:40002"


def _host_and_port(item: str, address: str) -> tuple[str, str]:
    if address.startswith("["):
        host, bracket, rest = address[1:].partition("]")
        if not bracket or rest[:1] != ":":
            raise ValueError(f"expected [IPV6]:PORT in {item!r}")
        return host, rest[1:]
    host, colon, port = address.rpartition(":")
    if not colon or ":" in host:
        raise ValueError(f"expected HOST:PORT in {item!r} (write IPv6 addresses as [::1]:PORT)")
    return host, port


def parse_dc_addresses(text: str) -> DcAddresses:
    """TG_DC_ADDRESSES: ``1=host:port,2=[::1]:port``; empty items are skipped."""
    result: DcAddresses = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        dc_text, eq, address = item.partition("=")
        dc_text = dc_text.strip()
        if not eq or not _DIGITS.fullmatch(dc_text):
            raise ValueError(f"expected DC=HOST:PORT items {_EXAMPLE}, got {item!r}")
        host, port_text = _host_and_port(item, address.strip())
        dc_id = int(dc_text)
        if not 1 <= dc_id <= 5:
            raise ValueError(f"DC ids are 1..5, got {dc_id} in {item!r}")
        if not host:
            raise ValueError(f"empty host in {item!r}")
        if not _DIGITS.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"port must be an integer between 1 and 65535 in {item!r}")
        if dc_id in result:
            raise ValueError(f"DC {dc_id} is listed twice")
        result[dc_id] = (host, int(port_text))
    return result


def read_rsa_public_key(value: str) -> RSAPublicNumbers:
    """TG_RSA_PUBLIC_KEY: PEM text (literal ``\\n`` allowed) or the path of a PEM file."""
    if "-----BEGIN" in value:
        # A PEM pasted into a one-line env value usually arrives with literal \n.
        pem = value if "\n" in value else value.replace("\\n", "\n")
    else:
        try:
            pem = Path(value).expanduser().read_text(encoding="ascii")
        except OSError as exc:
            raise ValueError(
                f"neither PEM text nor a readable PEM file: {value!r} ({exc.strerror})"
            ) from exc
        except UnicodeDecodeError as exc:
            raise ValueError(f"{value!r} is not a PEM file (not ASCII text)") from exc
    try:
        key = load_pem_public_key(pem.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise ValueError(f"not a valid PEM public key ({exc})") from exc
    if not isinstance(key, RSAPublicKey):
        raise ValueError("the PEM key is not an RSA public key")
    return key.public_numbers()


def _magnitude(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def rsa_fingerprint(key: RSAPublicNumbers) -> int:
    """Lower 64 bits of SHA1 over the TL-serialized modulus and exponent, signed."""
    serialized = Bytes(_magnitude(key.n)) + Bytes(_magnitude(key.e))
    return int.from_bytes(hashlib.sha1(serialized).digest()[-8:], "little", signed=True)


def trust_rsa_key(key: RSAPublicNumbers) -> int:
    """Add a server key to the table Kurigram looks fingerprints up in; returns the print."""
    fingerprint = rsa_fingerprint(key)
    rsa.server_public_keys[fingerprint] = rsa.PublicKey(key.n, key.e)
    return fingerprint


def connection_factory(addresses: DcAddresses) -> type[Connection]:
    """A Kurigram Connection that dials the configured address of each DC."""

    class RoutedConnection(Connection):  # type: ignore[misc]
        def __init__(self, dc_id: int, server_address: str, port: int, *args: Any, **kw: Any):
            host, real_port = addresses.get(dc_id, (server_address, port))
            super().__init__(dc_id, host, real_port, *args, **kw)

    return RoutedConnection


class StreamingAbridged(TCPAbridged):  # type: ignore[misc]
    """Kurigram's abridged transport, reading a packet in linear time.

    Kurigram's reader grows the packet with `data += chunk` (each chunk copies all that came
    before: a 1 MiB part arriving in 64 KiB reads is copied about eight times over) and
    starts a task per chunk for its timeout.  Here the chunks are joined once, the common
    single-chunk packet not at all, and one timeout is pushed back on every chunk: the same
    rule as Kurigram's (no byte for TIMEOUT seconds ends the connection), whatever the
    packet's size or the link's speed."""

    async def _recv_from_socket(self, length: int) -> bytes | None:
        reader = self.reader
        if reader is None:
            return None
        loop = asyncio.get_running_loop()
        chunks: list[bytes] = []
        remaining = length
        try:
            async with asyncio.timeout(self.TIMEOUT) as bound:
                while remaining > 0:
                    chunk = await reader.read(remaining)
                    if not chunk:
                        return None  # closed mid-packet
                    chunks.append(chunk)
                    remaining -= len(chunk)
                    bound.reschedule(loop.time() + self.TIMEOUT)
        except (TimeoutError, OSError):
            return None
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
