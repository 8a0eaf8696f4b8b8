"""The emulator's RSA key for the auth-key exchange (core.telegram.org/mtproto/auth_key, step 4).

Clients only accept keys they already know, so whoever points a client at the emulator must
give it `public_pem()` (or insert n and e into the client's key table).  The key lives in a
file so that it survives restarts and stays trusted.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from io import BytesIO
from pathlib import Path
from typing import Final

import tgcrypto
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pyrogram.raw import types
from pyrogram.raw.core import Bytes, TLObject

__all__ = ["ServerRSAKey", "rsa_fingerprint"]

KEY_BITS: Final = 2048
_BLOCK: Final = KEY_BITS // 8
_PUBLIC_EXPONENT: Final = 65537

# RSA_PAD's fixed layout: 32-byte masked AES key, then 192 bytes of data and a 32-byte hash.
_TEMP_KEY_SIZE: Final = 32
_RSA_PAD_DATA_SIZE: Final = 192

# Only these are ever RSA-encrypted.  Parsing is restricted to them because a hostile client
# can encrypt any plaintext with the public key, and other constructors (msgs_ack claiming
# 2**31 longs, say) would make the TL reader loop and allocate for minutes.
_INNER_DATA_IDS: Final = frozenset(
    int(cls.ID)
    for cls in (
        types.PQInnerData,
        types.PQInnerDataDc,
        types.PQInnerDataTemp,
        types.PQInnerDataTempDc,
    )
)


def _magnitude(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def rsa_fingerprint(n: int, e: int) -> int:
    """Telegram's key id: the low 64 bits of SHA1(TL bytes n, TL bytes e), as a signed int64."""
    digest = hashlib.sha1(Bytes(_magnitude(n)) + Bytes(_magnitude(e))).digest()
    return int.from_bytes(digest[-8:], "little", signed=True)


def _inner_data_length(data: bytes) -> int | None:
    """How many leading bytes of `data` form one p_q_inner_data*, or None if they do not.

    The length is not sent, so the object has to be parsed to find where the padding starts.
    """
    if int.from_bytes(data[:4], "little") not in _INNER_DATA_IDS:
        return None
    stream = BytesIO(data)
    try:
        length = len(TLObject.read(stream).write())
    except Exception:  # any malformed field: the reader has no error type of its own
        return None
    # The reader silently returns short fields when it runs off the end; a re-serialization
    # that does not match what was consumed exposes that.
    return length if length == stream.tell() else None


class ServerRSAKey:
    """A 2048-bit RSA key pair, decrypting what clients encrypt with its public half."""

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        if private_key.key_size != KEY_BITS:
            raise ValueError(f"MTProto needs a {KEY_BITS}-bit RSA key, got {private_key.key_size}")
        numbers = private_key.private_numbers()
        self.n: int = numbers.public_numbers.n
        self.e: int = numbers.public_numbers.e
        self.d: int = numbers.d
        # CRT parameters make each decryption about three times faster than pow(c, d, n).
        self._p = numbers.p
        self._q = numbers.q
        self._dp = numbers.dmp1
        self._dq = numbers.dmq1
        self._q_inv = numbers.iqmp
        self._private_key = private_key
        self._fingerprint = rsa_fingerprint(self.n, self.e)

    @classmethod
    def generate(cls) -> ServerRSAKey:
        return cls(rsa.generate_private_key(public_exponent=_PUBLIC_EXPONENT, key_size=KEY_BITS))

    @classmethod
    def from_pem(cls, pem: bytes) -> ServerRSAKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the key file does not hold an RSA private key")
        return cls(key)

    @classmethod
    def load_or_create(cls, path: Path) -> ServerRSAKey:
        """Load the private key at `path`, first creating it (mode 0600) if it is missing."""
        try:
            return cls.from_pem(path.read_bytes())
        except FileNotFoundError:
            pass
        key = cls.generate()
        if key._write_new(path):
            return key
        # Another process created the file first; its key is the one clients will be given.
        return cls.from_pem(path.read_bytes())

    def _write_new(self, path: Path) -> bool:
        """Write the key to `path` unless it exists; never leaves a partial or readable file.

        The PEM goes to a private temporary file that is then hard-linked into place, which
        fails instead of overwriting when two processes race to create the key.
        """
        pem = self._private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            # The mode given to open() is reduced by the umask; this makes it exactly 0600.
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(pem)
                file.flush()
                os.fsync(file.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            return True
        finally:
            tmp.unlink(missing_ok=True)

    @property
    def fingerprint(self) -> int:
        """The id clients send as public_key_fingerprint, as in Kurigram's server_public_keys."""
        return self._fingerprint

    def public_pem(self) -> str:
        """The public key as Telegram publishes it: PKCS#1 "BEGIN RSA PUBLIC KEY" PEM."""
        return (
            self._private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
            .decode("ascii")
        )

    def _decrypt_block(self, value: int) -> bytes:
        m1 = pow(value, self._dp, self._p)
        m2 = pow(value, self._dq, self._q)
        h = self._q_inv * (m1 - m2) % self._p
        return (m2 + h * self._q).to_bytes(_BLOCK, "big")

    def decrypt_inner_data(self, encrypted_data: bytes) -> bytes:
        """Decrypt req_DH_params.encrypted_data to the TL bytes of its p_q_inner_data*.

        Both client schemes are accepted: the legacy SHA1(data) + data + padding, and RSA_PAD.
        Raises ValueError when neither verifies; Telegram then just closes the connection.
        """
        if len(encrypted_data) != _BLOCK:
            raise ValueError(f"encrypted_data is {len(encrypted_data)} bytes, not {_BLOCK}")
        value = int.from_bytes(encrypted_data, "big")
        if value >= self.n:
            raise ValueError("encrypted_data is not below the RSA modulus")
        plain = self._decrypt_block(value)
        data = _legacy_inner_data(plain)
        if data is None:
            data = _rsa_pad_inner_data(plain)
        if data is None:
            raise ValueError("encrypted_data verifies under neither the legacy scheme nor RSA_PAD")
        return data


def _legacy_inner_data(plain: bytes) -> bytes | None:
    # SHA1(data) + data + padding fills 255 bytes, so the 256-byte block starts with a zero.
    if plain[0] != 0:
        return None
    digest, rest = plain[1:21], plain[21:]
    length = _inner_data_length(rest)
    if length is None:
        return None
    data = rest[:length]
    if not hmac.compare_digest(hashlib.sha1(data).digest(), digest):
        return None
    return data


def _rsa_pad_inner_data(plain: bytes) -> bytes | None:
    temp_key_xor, aes_encrypted = plain[:_TEMP_KEY_SIZE], plain[_TEMP_KEY_SIZE:]
    mask = hashlib.sha256(aes_encrypted).digest()
    temp_key = bytes(a ^ b for a, b in zip(temp_key_xor, mask, strict=True))
    data_with_hash: bytes = tgcrypto.ige256_decrypt(aes_encrypted, temp_key, bytes(32))
    data_with_padding = data_with_hash[_RSA_PAD_DATA_SIZE - 1 :: -1]
    digest = data_with_hash[_RSA_PAD_DATA_SIZE:]
    if not hmac.compare_digest(hashlib.sha256(temp_key + data_with_padding).digest(), digest):
        return None
    length = _inner_data_length(data_with_padding)
    if length is None:
        return None
    return data_with_padding[:length]
