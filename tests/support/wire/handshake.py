"""The client side of auth key creation (core.telegram.org/mtproto/auth_key).

Each step is its own method so that tests can break any of them.  Kurigram runs the exchange
inline with the legacy RSA scheme only, so the steps, RSA_PAD and the server key's fingerprint
are written here from the spec; the TL primitives, AES-IGE, the published dh_prime and pq
factoring are Kurigram's.  This is the tests' one implementation of the fingerprint: it is
what the emulator's (tgemu/rsa_key.py) is checked against.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from io import BytesIO
from typing import Any, Final, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pyrogram.crypto import aes, prime
from pyrogram.raw import functions, types
from pyrogram.raw.core import Bytes, TLObject

from .connection import WireConnection
from .messages import AuthKey, MsgIdClock, plain_message, read_plain_message, serialize

RsaScheme = Literal["rsa_pad", "legacy"]

# g_a and g_b must lie in [2^(2048-64), dh_prime - 2^(2048-64)] (auth_key, step 9).
_DH_SAFETY: Final = 1 << (2048 - 64)


def factor_pq(pq: int) -> tuple[int, int]:
    """p < q with p * q == pq."""
    # Pollard's rho starts from random values and may, rarely, come back with pq itself.
    for _ in range(8):
        factor = prime.decompose(pq)
        if 1 < factor < pq:
            p, q = sorted((factor, pq // factor))
            return p, q
    raise AssertionError(f"no factor of {pq} found")


def _magnitude(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _int_bytes(value: int, size: int) -> bytes:
    return value.to_bytes(size, "little", signed=True)


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
        # 64 lower-order bits of SHA1(rsa_public_key n:bytes e:bytes), as a signed long.
        serialized = Bytes(_magnitude(self.n)) + Bytes(_magnitude(self.e))
        digest = hashlib.sha1(serialized).digest()
        return int.from_bytes(digest[-8:], "little", signed=True)

    def encrypt_raw(self, block: bytes) -> bytes:
        """Textbook RSA of one 256-byte block, as both schemes end."""
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
            aes_encrypted = bytes(aes.ige256_encrypt(data_with_hash, temp_key, bytes(32)))
            mask = hashlib.sha256(aes_encrypted).digest()
            temp_key_xor = bytes(a ^ b for a, b in zip(temp_key, mask, strict=True))
            key_aes_encrypted = temp_key_xor + aes_encrypted
            if int.from_bytes(key_aes_encrypted, "big") < self.n:
                return self.encrypt_raw(key_aes_encrypted)

    def encrypt_legacy(self, data: bytes) -> bytes:
        """The older scheme: RSA(SHA1(data) + data + random bytes up to 255 bytes)."""
        assert len(data) <= 255 - 20
        return self.encrypt_raw(
            hashlib.sha1(data).digest() + data + os.urandom(255 - 20 - len(data))
        )


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
        await self.connection.send(plain_message(self.clock.next(), serialize(request)))
        return read_plain_message(await self.connection.recv(within))

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
        plain = bytes(aes.ige256_decrypt(answer.encrypted_answer, key, iv))
        stream = BytesIO(plain[20:])
        inner_dh = TLObject.read(stream)
        assert isinstance(inner_dh, types.ServerDHInnerData)
        length = stream.tell()
        assert hashlib.sha1(plain[20 : 20 + length]).digest() == plain[:20], "answer hash"
        assert len(plain) - 20 - length < 16, "more than 15 padding bytes in encrypted_answer"
        assert (inner_dh.nonce, inner_dh.server_nonce) == (self.nonce, res_pq.server_nonce)
        dh_prime = int.from_bytes(inner_dh.dh_prime, "big")
        g_a = int.from_bytes(inner_dh.g_a, "big")
        # Clients may keep the published safe prime instead of testing primality (step 6).
        assert dh_prime == prime.CURRENT_DH_PRIME, "dh_prime is not the known safe prime"
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
                encrypted_data=bytes(aes.ige256_encrypt(with_hash, key, iv)),
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
