"""Signed link tokens and link paths."""

from __future__ import annotations

import base64
import hashlib
import hmac
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tgstream.links import (
    MAX_LIFETIME,
    LinkState,
    check,
    download_path,
    message_of,
    parse_duration,
    public_url,
    sign,
    sign_expiring,
    verify,
    watch_path,
)

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


# --- links that end ---------------------------------------------------------------------

_times = st.integers(min_value=1, max_value=99_999_999_999)


def test_expiring_signature_is_hmac_over_id_and_time() -> None:
    mac = hmac.new(b"s3cret", b"tgstream-link-exp:42:1700000000", hashlib.sha256).digest()
    expected = base64.urlsafe_b64encode(mac).decode().rstrip("=")
    assert sign_expiring(42, 1700000000, SECRET) == expected


def test_old_links_stay_valid_for_ever() -> None:
    # The form every link issued so far has: no exp at all.
    assert check(42, sign(42, SECRET), None, SECRET, now=1e12) is LinkState.VALID
    assert check(42, "x" * 43, None, SECRET, now=0) is LinkState.FORGED


@given(message_id=_ids, expires=_times, secret=_secrets)
def test_expiring_round_trip(message_id: int, expires: int, secret: str) -> None:
    sig = sign_expiring(message_id, expires, secret)
    assert check(message_id, sig, str(expires), secret, now=expires - 0.001) is LinkState.VALID
    assert check(message_id, sig, str(expires), secret, now=expires) is LinkState.EXPIRED
    assert check(message_id, sig, str(expires), secret, now=expires + 10**9) is LinkState.EXPIRED


@given(message_id=_ids, expires=_times, other=_times, secret=_secrets)
def test_tampered_expiry_is_forged(message_id: int, expires: int, other: int, secret: str) -> None:
    sig = sign_expiring(message_id, expires, secret)
    if other != expires:
        assert check(message_id, sig, str(other), secret, now=0) is LinkState.FORGED


@given(message_id=_ids, other=_ids, expires=_times, secret=_secrets)
def test_expiring_sig_is_bound_to_the_id(
    message_id: int, other: int, expires: int, secret: str
) -> None:
    if other != message_id:
        sig = sign_expiring(message_id, expires, secret)
        assert check(other, sig, str(expires), secret, now=0) is LinkState.FORGED


def test_the_separator_keeps_id_and_time_apart() -> None:
    assert sign_expiring(12, 345, SECRET) != sign_expiring(123, 45, SECRET)
    assert check(123, sign_expiring(12, 345, SECRET), "45", SECRET, now=0) is LinkState.FORGED


@given(message_id=_ids, expires=_times, secret=_secrets)
def test_the_two_forms_never_pass_as_each_other(message_id: int, expires: int, secret: str) -> None:
    # Dropping exp from an ending link must not make it endless, and an endless link's
    # signature must not pass with any exp added.
    ending = sign_expiring(message_id, expires, secret)
    assert check(message_id, ending, None, secret, now=0) is LinkState.FORGED
    endless = sign(message_id, secret)
    assert check(message_id, endless, str(expires), secret, now=0) is LinkState.FORGED


@pytest.mark.parametrize(
    "exp",
    [
        "",
        "0",
        "-5",
        "+1700000000",
        "01700000000",
        "1700000000.0",
        "1e10",
        " 1700000000",
        "1700000000 ",
        "١٧٠٠",  # Arabic-Indic digits: str.isdigit says yes, we say no
        "999999999999",  # 12 digits: beyond any time we sign
        "9" * 5000,
        "17000000x0",
        "\x00",
        "\ud800",
    ],
)
def test_malformed_expiry_is_forged_and_never_raises(exp: str) -> None:
    good = sign_expiring(7, 1700000000, SECRET)
    assert check(7, good, exp, SECRET, now=0) is LinkState.FORGED


@pytest.mark.parametrize("expires", [0, -1, 10**11, 2**63])
def test_out_of_range_expiry_is_not_signed(expires: int) -> None:
    with pytest.raises(ValueError):
        sign_expiring(7, expires, SECRET)


@given(exp=st.text(max_size=15), sig=st.text(max_size=50))
def test_arbitrary_query_never_raises(exp: str, sig: str) -> None:
    assert check(7, sig, exp, SECRET, now=0) in (LinkState.FORGED, LinkState.VALID)


def test_empty_secret_refuses_everything() -> None:
    assert check(1, sign(1, "x"), None, "", now=0) is LinkState.FORGED
    assert check(1, sign_expiring(1, 5, "x"), "5", "", now=0) is LinkState.FORGED


def test_expiring_paths() -> None:
    sig = sign_expiring(42, 1700000000, SECRET)
    query = f"exp=1700000000&sig={sig}"
    assert download_path(42, "a b.mp4", SECRET, 1700000000) == f"/dl/42/a%20b.mp4?{query}"
    assert watch_path(42, "a b.mp4", SECRET, 1700000000) == f"/watch/42/a%20b.mp4?{query}"


@given(message_id=st.integers(1, 2**31 - 1), expires=st.none() | _times, secret=_secrets)
def test_message_of_reads_our_links_back(message_id: int, expires: int | None, secret: str) -> None:
    for path in (download_path, watch_path):
        url = public_url("https://x.example/pre", path(message_id, "a/b?.mp4", secret, expires))
        assert message_of(url, secret) == message_id
        assert message_of(url, secret + "x") is None
        assert message_of(url.replace(f"/{message_id}/", f"/{message_id + 1}/"), secret) is None


@pytest.mark.parametrize(
    "url",
    [
        "",
        "https://x.example/",
        "https://x.example/dl/5/a",
        "https://x.example/dl/5/a?sig=",
        "https://x.example/static/5/a?sig=" + sign(5, SECRET),
        "https://x.example/dl/5/?sig=" + sign(5, SECRET),
        "https://x.example/dl/05/a?sig=" + sign(5, SECRET),
        "https://x.example/dl/5/a/more?sig=" + sign(5, SECRET),
    ],
)
def test_message_of_refuses_what_is_not_our_link(url: str) -> None:
    assert message_of(url, SECRET) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1", 1),
        ("90", 90),
        ("90s", 90),
        ("90m", 5400),
        ("24h", 86400),
        ("24H", 86400),
        (" 7d ", 7 * 86400),
        ("2w", 14 * 86400),
        ("1d12h", 36 * 3600),
        ("1h30m15s", 5415),
        ("3650d", 3650 * 86400),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "0",
        "0h",
        "-5m",
        "5 m",
        "5y",
        "h",
        "1.5h",
        "24hours",
        "3651d",
        "99999999999",
        "9" * 100 + "d",
        "١h",
        "1d-1h",
        "1e3",
    ],
)
def test_bad_durations_are_one_clear_line(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert "\n" not in str(caught.value) and str(caught.value)


@given(text=st.text(max_size=30))
def test_any_text_is_a_duration_or_a_value_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError:
        return
    assert 0 < seconds <= MAX_LIFETIME
