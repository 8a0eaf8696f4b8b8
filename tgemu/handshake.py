"""Auth key creation, server side (core.telegram.org/mtproto/auth_key).

A sans-I/O state machine: `Handshake.handle(body)` takes the body of one unencrypted client
message and returns the body of the answer, or raises `HandshakeFailed`, on which the caller
closes the connection as Telegram does.  A finished key is handed to `on_key`.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tgcrypto
from pyrogram.raw import functions, types

from . import tl
from .rsa_key import ServerRSAKey

# Telegram's published 2048-bit safe prime (core.telegram.org/mtproto/security_guidelines),
# the one clients check the server's dh_prime against.
DH_PRIME = int(
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
# g = 3 is a generator of the order-(p-1)/2 subgroup because p mod 3 == 2.
DH_G = 3
_SAFETY = 1 << (2048 - 64)


class HandshakeFailed(Exception):
    """The client broke the protocol; the connection must be closed."""


def _is_probable_prime(n: int) -> bool:
    if n < 2:
        return False
    for small in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % small == 0:
            return n == small
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    # These bases make Miller-Rabin deterministic for n < 3.3e24, far above 2^32.
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _random_prime(bits: int) -> int:
    while True:
        candidate = secrets.randbits(bits) | (1 << (bits - 1)) | 1
        if _is_probable_prime(candidate):
            return candidate


def make_pq() -> tuple[int, int]:
    """Two distinct primes below 2^32 whose product the client must factor."""
    p = _random_prime(31)
    q = _random_prime(32)
    while q == p:
        q = _random_prime(32)
    return min(p, q), max(p, q)


def _i2b(value: int, size: int) -> bytes:
    return value.to_bytes(size, "little", signed=True)


def _tmp_aes(new_nonce: bytes, server_nonce: bytes) -> tuple[bytes, bytes]:
    key = (
        hashlib.sha1(new_nonce + server_nonce).digest()
        + hashlib.sha1(server_nonce + new_nonce).digest()[:12]
    )
    iv = (
        hashlib.sha1(server_nonce + new_nonce).digest()[12:]
        + hashlib.sha1(new_nonce + new_nonce).digest()
        + new_nonce[:4]
    )
    return key, iv


def _new_nonce_hash(new_nonce: bytes, number: int, auth_key: bytes) -> int:
    aux_hash = hashlib.sha1(auth_key).digest()[:8]
    digest = hashlib.sha1(new_nonce + bytes([number]) + aux_hash).digest()
    return int.from_bytes(digest[-16:], "little", signed=True)


@dataclass(slots=True)
class NewKey:
    auth_key: bytes
    server_salt: int
    temp_expires_at: int | None  # set for temporary (PFS) keys


@dataclass(slots=True)
class Handshake:
    """One client's key exchange on one DC."""

    dc_id: int
    rsa: ServerRSAKey
    key_exists: Callable[[bytes], bool]
    on_key: Callable[[NewKey], None]
    nonce: int | None = None
    server_nonce: int | None = None
    p: int = 0
    q: int = 0
    new_nonce: bytes = b""
    a: int = 0
    temp_expires_in: int | None = None
    retry_id: int = 0
    last_key: bytes = b""
    state: str = field(default="start")

    def handle(self, body: bytes) -> bytes:
        try:
            request = tl.read(body)
        except Exception as exc:  # any garbage: Telegram just closes the connection
            raise HandshakeFailed(f"unparsable handshake message: {exc!r}") from None
        if isinstance(request, functions.ReqPqMulti | functions.ReqPq):
            return self._res_pq(request.nonce)
        if isinstance(request, functions.ReqDHParams):
            return self._req_dh_params(request)
        if isinstance(request, functions.SetClientDHParams):
            return self._set_client_dh_params(request)
        raise HandshakeFailed(f"unexpected unencrypted message {type(request).__name__}")

    def _check_nonces(self, request: Any) -> None:
        if request.nonce != self.nonce or request.server_nonce != self.server_nonce:
            raise HandshakeFailed("nonce mismatch")

    def _res_pq(self, nonce: int) -> bytes:
        # A repeated req_pq restarts the exchange, as a client retrying after a drop would.
        self.nonce = nonce
        self.server_nonce = int.from_bytes(os.urandom(16), "little", signed=True)
        self.p, self.q = make_pq()
        self.state = "res_pq"
        return tl.write(
            types.ResPQ(
                nonce=nonce,
                server_nonce=self.server_nonce,
                pq=(self.p * self.q).to_bytes(8, "big"),
                server_public_key_fingerprints=[self.rsa.fingerprint],
            )
        )

    def _req_dh_params(self, request: Any) -> bytes:
        if self.state != "res_pq":
            raise HandshakeFailed("req_DH_params out of order")
        self._check_nonces(request)
        if request.public_key_fingerprint != self.rsa.fingerprint:
            raise HandshakeFailed("unknown RSA fingerprint")
        if int.from_bytes(request.p, "big") != self.p or int.from_bytes(request.q, "big") != self.q:
            raise HandshakeFailed("wrong factorization")
        try:
            inner = tl.read(self.rsa.decrypt_inner_data(request.encrypted_data))
        except Exception as exc:
            raise HandshakeFailed(f"bad encrypted_data: {exc}") from None
        if not isinstance(
            inner,
            types.PQInnerData
            | types.PQInnerDataDc
            | types.PQInnerDataTemp
            | types.PQInnerDataTempDc,
        ):
            raise HandshakeFailed("encrypted_data is not p_q_inner_data")
        if (
            inner.nonce != self.nonce
            or inner.server_nonce != self.server_nonce
            or int.from_bytes(inner.pq, "big") != self.p * self.q
            or int.from_bytes(inner.p, "big") != self.p
            or int.from_bytes(inner.q, "big") != self.q
        ):
            raise HandshakeFailed("p_q_inner_data does not match")
        dc = getattr(inner, "dc", None)
        # dc is negative for media-only and shifted by 10000 in test mode; its magnitude names
        # the DC the client thinks it is talking to.
        if dc is not None and abs(dc) % 10000 != self.dc_id:
            raise HandshakeFailed(f"p_q_inner_data_dc names DC {dc}, this is DC {self.dc_id}")
        self.temp_expires_in = getattr(inner, "expires_in", None)
        self.new_nonce = _i2b(inner.new_nonce, 32)
        server_nonce = _i2b(self.server_nonce or 0, 16)
        while True:
            self.a = int.from_bytes(os.urandom(256), "big")
            g_a = pow(DH_G, self.a, DH_PRIME)
            if _SAFETY < g_a < DH_PRIME - _SAFETY:
                break
        answer = tl.write(
            types.ServerDHInnerData(
                nonce=self.nonce or 0,
                server_nonce=self.server_nonce or 0,
                g=DH_G,
                dh_prime=DH_PRIME.to_bytes(256, "big"),
                g_a=g_a.to_bytes(256, "big"),
                server_time=int(time.time()),
            )
        )
        with_hash = hashlib.sha1(answer).digest() + answer
        with_hash += os.urandom(-len(with_hash) % 16)
        key, iv = _tmp_aes(self.new_nonce, server_nonce)
        self.state = "dh_params"
        return tl.write(
            types.ServerDHParamsOk(
                nonce=self.nonce or 0,
                server_nonce=self.server_nonce or 0,
                encrypted_answer=tgcrypto.ige256_encrypt(with_hash, key, iv),
            )
        )

    def _set_client_dh_params(self, request: Any) -> bytes:
        if self.state not in ("dh_params", "retry"):
            raise HandshakeFailed("set_client_DH_params out of order")
        self._check_nonces(request)
        server_nonce = _i2b(self.server_nonce or 0, 16)
        key, iv = _tmp_aes(self.new_nonce, server_nonce)
        data = request.encrypted_data
        if not data or len(data) % 16:
            raise HandshakeFailed("bad encrypted_data length")
        plain = tgcrypto.ige256_decrypt(data, key, iv)
        try:
            inner = tl.read(plain[20:])
        except Exception:
            raise HandshakeFailed("unparsable client_DH_inner_data") from None
        if not isinstance(inner, types.ClientDHInnerData):
            raise HandshakeFailed("not client_DH_inner_data")
        inner_bytes = tl.write(inner)
        if hashlib.sha1(inner_bytes).digest() != plain[:20] or len(plain) - 20 - len(
            inner_bytes
        ) not in range(16):
            raise HandshakeFailed("client_DH_inner_data hash mismatch")
        if inner.nonce != self.nonce or inner.server_nonce != self.server_nonce:
            raise HandshakeFailed("client_DH_inner_data nonce mismatch")
        g_b = int.from_bytes(inner.g_b, "big")
        nonce, snonce = self.nonce or 0, self.server_nonce or 0
        # security_guidelines: 1 < g_b < p-1 and 2^{2048-64} <= g_b <= p - 2^{2048-64}.
        if not (1 < g_b < DH_PRIME - 1 and _SAFETY <= g_b <= DH_PRIME - _SAFETY):
            self.state = "failed"
            return tl.write(
                types.DhGenFail(
                    nonce=nonce,
                    server_nonce=snonce,
                    new_nonce_hash3=_new_nonce_hash(self.new_nonce, 3, self.last_key or b""),
                )
            )
        if self.state == "retry":
            expected_retry = int.from_bytes(hashlib.sha1(self.last_key).digest()[:8], "little")
            if inner.retry_id != expected_retry and inner.retry_id != _signed64(expected_retry):
                raise HandshakeFailed("wrong retry_id")
        auth_key = pow(g_b, self.a, DH_PRIME).to_bytes(256, "big")
        self.last_key = auth_key
        if self.key_exists(auth_key):
            # A colliding auth_key_id must not replace a live key: ask for another g_b.
            self.state = "retry"
            return tl.write(
                types.DhGenRetry(
                    nonce=nonce,
                    server_nonce=snonce,
                    new_nonce_hash2=_new_nonce_hash(self.new_nonce, 2, auth_key),
                )
            )
        salt = int.from_bytes(
            bytes(x ^ y for x, y in zip(self.new_nonce[:8], server_nonce[:8], strict=True)),
            "little",
            signed=True,
        )
        expires = None
        if self.temp_expires_in is not None:
            expires = int(time.time()) + max(0, self.temp_expires_in)
        self.on_key(NewKey(auth_key, salt, expires))
        self.state = "done"
        return tl.write(
            types.DhGenOk(
                nonce=nonce,
                server_nonce=snonce,
                new_nonce_hash1=_new_nonce_hash(self.new_nonce, 1, auth_key),
            )
        )


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value
