"""Signed link tokens and link paths."""

from __future__ import annotations

import base64
import hashlib
import hmac
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tgstream.links import download_path, public_url, sign, verify, watch_path

SECRET = "s3cret"
B64URL = string.ascii_letters + string.digits + "-_"

_ids = st.integers(min_value=-(2**63), max_value=2**63)
_secrets = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40)


def test_sign_is_full_unpadded_urlsafe_hmac_sha256() -> None:
    mac = hmac.new(b"s3cret", b"tgstream-link:42", hashlib.sha256).digest()
    expected = base64.urlsafe_b64encode(mac).decode().rstrip("=")
    assert sign(42, SECRET) == expected
    assert len(expected) == 43
    assert base64.urlsafe_b64decode(expected + "=") == mac  # all 32 bytes kept


def test_sign_is_deterministic_and_id_specific() -> None:
    assert sign(1, SECRET) == sign(1, SECRET)
    assert sign(1, SECRET) != sign(2, SECRET)
    assert sign(1, SECRET) != sign(1, SECRET + "x")
    assert sign(1, SECRET) != sign(10, SECRET)


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        sign(1, "")
    assert verify(1, sign(1, "x"), "") is False


@given(message_id=_ids, secret=_secrets)
def test_round_trip(message_id: int, secret: str) -> None:
    sig = sign(message_id, secret)
    assert len(sig) == 43
    assert set(sig) <= set(B64URL)
    assert verify(message_id, sig, secret)


@given(message_id=_ids, secret=_secrets, data=st.data())
def test_any_single_character_change_fails(
    message_id: int, secret: str, data: st.DataObject
) -> None:
    sig = sign(message_id, secret)
    index = data.draw(st.integers(0, len(sig) - 1))
    replacement = data.draw(
        st.one_of(st.sampled_from(B64URL), st.characters()).filter(lambda c: c != sig[index])
    )
    tampered = sig[:index] + replacement + sig[index + 1 :]
    assert not verify(message_id, tampered, secret)


@given(message_id=_ids, secret=_secrets, cut=st.integers(0, 42))
def test_truncation_fails(message_id: int, secret: str, cut: int) -> None:
    sig = sign(message_id, secret)
    assert not verify(message_id, sig[:cut], secret)
    assert not verify(message_id, sig[cut + 1 :], secret)


@given(message_id=_ids, secret=_secrets, extra=st.text(min_size=1, max_size=5))
def test_extension_fails(message_id: int, secret: str, extra: str) -> None:
    sig = sign(message_id, secret)
    assert not verify(message_id, sig + extra, secret)
    assert not verify(message_id, sig + "=", secret)


@given(message_id=_ids, other=_ids, secret=_secrets)
def test_other_id_fails(message_id: int, other: int, secret: str) -> None:
    if other != message_id:
        assert not verify(other, sign(message_id, secret), secret)


@given(message_id=_ids, secret=_secrets, other=_secrets)
def test_other_secret_fails(message_id: int, secret: str, other: str) -> None:
    if other != secret:
        assert not verify(message_id, sign(message_id, secret), other)


def test_non_canonical_base64_of_the_same_mac_fails() -> None:
    # 43 characters carry 258 bits; the last character's 2 spare bits are ignored
    # by decoders, so 3 other strings decode to the same MAC.  Only ours passes.
    sig = sign(7, SECRET)
    mac = base64.urlsafe_b64decode(sig + "=")
    twins = [
        sig[:-1] + c
        for c in B64URL
        if c != sig[-1] and base64.urlsafe_b64decode(sig[:-1] + c + "=") == mac
    ]
    assert len(twins) == 3
    for twin in twins:
        assert not verify(7, twin, SECRET)


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        "",
        "x",
        "=" * 43,
        "A" * 43,
        "é" * 43,
        "\x00" * 43,
        "\ud800" * 43,
        "!" * 43,
        " " * 43,
        "A" * 10_000,
        "%2F" * 14 + "A",
    ],
)
def test_garbage_never_raises(garbage: str | None) -> None:
    assert verify(7, garbage, SECRET) is False


@given(garbage=st.text(max_size=60))
def test_arbitrary_text_never_raises(garbage: str) -> None:
    assert verify(7, garbage, SECRET) is (garbage == sign(7, SECRET))


def test_download_and_watch_paths() -> None:
    sig = sign(42, SECRET)
    assert download_path(42, "movie.mp4", SECRET) == f"/dl/42/movie.mp4?sig={sig}"
    assert watch_path(42, "movie.mp4", SECRET) == f"/watch/42/movie.mp4?sig={sig}"


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("", "file"),
        ("a b.mkv", "a%20b.mkv"),
        ("a/b\\c.mp4", "a%2Fb%5Cc.mp4"),
        ("what?#&=.mp4", "what%3F%23%26%3D.mp4"),
        ("100%.txt", "100%25.txt"),
        ("фильм.mp4", "%D1%84%D0%B8%D0%BB%D1%8C%D0%BC.mp4"),
        ("..", "file"),  # a dot segment would be resolved away by the client
        (".", "file"),
        ("...", "..."),
        ("a\ud800b", "a%3Fb"),  # lone surrogate: cosmetic, replaced, never an error
        ("~_-.", "~_-."),
    ],
)
def test_file_name_is_percent_encoded(name: str, quoted: str) -> None:
    path = download_path(5, name, SECRET)
    assert path == f"/dl/5/{quoted}?sig={sign(5, SECRET)}"
    assert watch_path(5, name, SECRET) == f"/watch/5/{quoted}?sig={sign(5, SECRET)}"


@given(message_id=_ids, name=st.text(), secret=_secrets)
def test_paths_have_exactly_three_segments_and_a_valid_sig(
    message_id: int, name: str, secret: str
) -> None:
    for path, prefix in ((download_path, "dl"), (watch_path, "watch")):
        value = path(message_id, name, secret)
        route, _, query = value.partition("?")
        assert route.split("/")[:3] == ["", prefix, str(message_id)]
        assert len(route.split("/")) == 4
        assert route.split("/")[3]
        assert query.startswith("sig=")
        assert verify(message_id, query.removeprefix("sig="), secret)
        assert value.isascii() and " " not in value


@pytest.mark.parametrize(
    ("base", "path", "joined"),
    [
        ("https://x.example", "/dl/1/a?sig=s", "https://x.example/dl/1/a?sig=s"),
        ("https://x.example/", "/dl/1/a", "https://x.example/dl/1/a"),
        ("https://x.example//", "//dl/1/a", "https://x.example/dl/1/a"),
        ("https://x.example", "dl/1/a", "https://x.example/dl/1/a"),
        ("http://h:8080/prefix/", "/watch/1/a", "http://h:8080/prefix/watch/1/a"),
        ("http://h:8080/prefix", "watch/1/a", "http://h:8080/prefix/watch/1/a"),
    ],
)
def test_public_url(base: str, path: str, joined: str) -> None:
    assert public_url(base, path) == joined
