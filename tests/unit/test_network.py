"""Server keys: the fingerprint tgstream computes is the one Kurigram files Telegram's keys
under, so a key trusted from TG_RSA_PUBLIC_KEY is found the same way."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import rsa as crypto_rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers
from pyrogram.crypto import rsa

from tgstream.telegram.network import rsa_fingerprint, trust_rsa_key


def test_fingerprints_match_kurigrams_table_of_telegrams_keys() -> None:
    known = list(rsa.server_public_keys.items())
    assert len(known) >= 4
    for fingerprint, key in known:
        assert rsa_fingerprint(RSAPublicNumbers(key.e, key.m)) == fingerprint


def test_a_trusted_key_is_filed_under_its_fingerprint() -> None:
    numbers = crypto_rsa.generate_private_key(65537, 2048).public_key().public_numbers()
    fingerprint = trust_rsa_key(numbers)
    try:
        filed = rsa.server_public_keys[fingerprint]
        assert (filed.m, filed.e) == (numbers.n, numbers.e)
    finally:
        del rsa.server_public_keys[fingerprint]
