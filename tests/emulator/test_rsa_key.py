"""The emulator's RSA key: persistence, fingerprints, and both req_DH_params encryptions."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tgcrypto
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa as crypto_rsa
from pyrogram.crypto import rsa as kurigram_rsa
from pyrogram.raw import types

from tests.support.wire import ServerKey
from tgemu.rsa_key import ServerRSAKey, rsa_fingerprint

# Telegram's production key #1, as published and embedded in Kurigram.
TELEGRAM_KEY_1_FINGERPRINT = 0xC3B42B026CE86B21 - (1 << 64)


@pytest.fixture(scope="module")
def key() -> ServerRSAKey:
    return ServerRSAKey.generate()


@pytest.fixture
def kurigram_trusts(key: ServerRSAKey) -> Iterator[int]:
    """Make Kurigram's RSA table hold our key for one test, as an emulator user would."""
    table = kurigram_rsa.server_public_keys
    assert key.fingerprint not in table
    table[key.fingerprint] = kurigram_rsa.PublicKey(key.n, key.e)
    try:
        yield key.fingerprint
    finally:
        del table[key.fingerprint]


def _nonce(size: int) -> int:
    return int.from_bytes(os.urandom(size), "little", signed=True)


def inner_data(kind: str) -> bytes:
    common: dict[str, Any] = {
        "pq": (1724114033281923457).to_bytes(8, "big"),
        "p": (1229739323).to_bytes(4, "big"),
        "q": (1402015859).to_bytes(4, "big"),
        "nonce": _nonce(16),
        "server_nonce": _nonce(16),
        "new_nonce": _nonce(32),
    }
    if kind == "plain":
        obj = types.PQInnerData(**common)
    elif kind == "dc":
        obj = types.PQInnerDataDc(**common, dc=-2)
    elif kind == "temp":
        obj = types.PQInnerDataTemp(**common, expires_in=86400)
    else:
        obj = types.PQInnerDataTempDc(**common, dc=10004, expires_in=3600)
    data: bytes = obj.write()
    return data


INNER_KINDS = ["plain", "dc", "temp", "temp_dc"]


def legacy_encrypt(data: bytes, fingerprint: int) -> bytes:
    """Exactly what Kurigram's session/auth.py sends in req_DH_params."""
    digest = hashlib.sha1(data).digest()
    padding = os.urandom(-(len(data) + len(digest)) % 255)
    encrypted: bytes = kurigram_rsa.encrypt(digest + data + padding, fingerprint)
    return encrypted


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def client_side(key: ServerRSAKey) -> ServerKey:
    """The public half as the raw client holds it, with RSA_PAD written from the spec."""
    return ServerKey(key.n, key.e)


# --- fingerprints ------------------------------------------------------------------------------


def test_fingerprint_of_telegrams_published_key() -> None:
    published = kurigram_rsa.server_public_keys[TELEGRAM_KEY_1_FINGERPRINT]
    assert rsa_fingerprint(published.m, published.e) == TELEGRAM_KEY_1_FINGERPRINT


def test_fingerprint_of_every_key_kurigram_knows() -> None:
    for fingerprint, public in kurigram_rsa.server_public_keys.items():
        assert rsa_fingerprint(public.m, public.e) == fingerprint


def test_the_raw_clients_fingerprint_of_every_key_kurigram_knows() -> None:
    # The raw wire tests check the emulator's fingerprint against this one, so it is checked too.
    for fingerprint, public in kurigram_rsa.server_public_keys.items():
        assert ServerKey(public.m, public.e).fingerprint == fingerprint


def test_fingerprint_is_a_signed_int64(key: ServerRSAKey) -> None:
    assert -(1 << 63) <= key.fingerprint < 1 << 63
    assert key.fingerprint == rsa_fingerprint(key.n, key.e)


# --- persistence -------------------------------------------------------------------------------


def test_load_or_create_persists_a_private_key(tmp_path: Path) -> None:
    path = tmp_path / "state" / "rsa.pem"
    old_umask = os.umask(0)
    try:
        first = ServerRSAKey.load_or_create(path)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(path.parent.iterdir()) == [path]
    second = ServerRSAKey.load_or_create(path)
    assert (second.n, second.e, second.d) == (first.n, first.e, first.d)
    assert second.fingerprint == first.fingerprint
    assert first.n.bit_length() == 2048
    assert first.e == 65537


def test_a_key_file_created_meanwhile_wins(tmp_path: Path, key: ServerRSAKey) -> None:
    path = tmp_path / "rsa.pem"
    ServerRSAKey.load_or_create(path)
    before = path.read_bytes()
    assert not key._write_new(path)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_key_file_must_hold_a_2048_bit_rsa_key(tmp_path: Path) -> None:
    path = tmp_path / "rsa.pem"
    small = crypto_rsa.generate_private_key(public_exponent=65537, key_size=1024)
    path.write_bytes(
        small.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match="2048"):
        ServerRSAKey.load_or_create(path)


def test_public_pem_is_pkcs1(key: ServerRSAKey) -> None:
    pem = key.public_pem()
    assert pem.startswith("-----BEGIN RSA PUBLIC KEY-----\n")
    assert pem.rstrip().endswith("-----END RSA PUBLIC KEY-----")
    public = serialization.load_pem_public_key(pem.encode())
    assert isinstance(public, crypto_rsa.RSAPublicKey)
    assert (public.public_numbers().n, public.public_numbers().e) == (key.n, key.e)


# --- decryption --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", INNER_KINDS)
def test_legacy_scheme_as_kurigram_sends_it(
    key: ServerRSAKey, kurigram_trusts: int, kind: str
) -> None:
    data = inner_data(kind)
    assert key.decrypt_inner_data(legacy_encrypt(data, kurigram_trusts)) == data


@pytest.mark.parametrize("kind", INNER_KINDS)
def test_rsa_pad(key: ServerRSAKey, kind: str) -> None:
    data = inner_data(kind)
    assert key.decrypt_inner_data(client_side(key).encrypt_rsa_pad(data)) == data


@pytest.mark.parametrize("scheme", ["legacy", "rsa_pad"])
def test_tampered_ciphertext_rejected(key: ServerRSAKey, kurigram_trusts: int, scheme: str) -> None:
    data = inner_data("dc")
    if scheme == "legacy":
        encrypted = legacy_encrypt(data, kurigram_trusts)
    else:
        encrypted = client_side(key).encrypt_rsa_pad(data)
    for index in (0, 100, 255):
        tampered = bytearray(encrypted)
        tampered[index] ^= 0x01
        if int.from_bytes(tampered, "big") >= key.n:
            continue
        with pytest.raises(ValueError):
            key.decrypt_inner_data(bytes(tampered))


def test_legacy_hash_mismatch_rejected(key: ServerRSAKey) -> None:
    data = inner_data("plain")
    digest = bytearray(hashlib.sha1(data).digest())
    digest[0] ^= 1
    plain = bytes(digest) + data
    plain = b"\0" + plain + bytes(255 - len(plain))
    with pytest.raises(ValueError):
        key.decrypt_inner_data(client_side(key).encrypt_raw(plain))


def test_rsa_pad_hash_mismatch_rejected(key: ServerRSAKey) -> None:
    # Right temp_key, wrong hash inside: built like RSA_PAD but with a bad digest.
    data_with_padding = inner_data("plain").ljust(192, b"\0")
    data_with_hash = data_with_padding[::-1] + bytes(32)
    while True:
        # As the spec says for RSA_PAD: a block not below the modulus gets a new temp_key.
        temp_key = os.urandom(32)
        aes_encrypted: bytes = tgcrypto.ige256_encrypt(data_with_hash, temp_key, bytes(32))
        plain = _xor(temp_key, hashlib.sha256(aes_encrypted).digest()) + aes_encrypted
        if int.from_bytes(plain, "big") < key.n:
            break
    with pytest.raises(ValueError):
        key.decrypt_inner_data(client_side(key).encrypt_raw(plain))


def test_only_inner_data_constructors_are_parsed(key: ServerRSAKey) -> None:
    # msgs_ack claiming 2**31 - 1 longs, correctly hashed: Kurigram's reader would loop (and
    # allocate) for minutes on it, so it must be refused before reaching the reader.
    data = (0x62D6B459).to_bytes(4, "little") + (0x1CB5C415).to_bytes(4, "little")
    data += (2**31 - 1).to_bytes(4, "little")
    plain = hashlib.sha1(data).digest() + data
    plain = b"\0" + plain + bytes(255 - len(plain))
    with pytest.raises(ValueError):
        key.decrypt_inner_data(client_side(key).encrypt_raw(plain))


def test_ciphertext_not_below_modulus_rejected(key: ServerRSAKey) -> None:
    with pytest.raises(ValueError, match="modulus"):
        key.decrypt_inner_data(key.n.to_bytes(256, "big"))
    with pytest.raises(ValueError, match="modulus"):
        key.decrypt_inner_data(b"\xff" * 256)


@pytest.mark.parametrize("size", [0, 255, 257])
def test_ciphertext_must_be_256_bytes(key: ServerRSAKey, size: int) -> None:
    with pytest.raises(ValueError):
        key.decrypt_inner_data(bytes(size))


def test_random_ciphertext_rejected(key: ServerRSAKey) -> None:
    for _ in range(20):
        value = int.from_bytes(os.urandom(256), "big") % key.n
        with pytest.raises(ValueError):
            key.decrypt_inner_data(value.to_bytes(256, "big"))
