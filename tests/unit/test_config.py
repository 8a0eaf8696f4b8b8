"""Settings loading: names, defaults, derivations, and one-line errors."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tgstream.config import ConfigError, Settings, load_settings

API_HASH = "0123456789abcdef0123456789abcdef"
BOT_TOKEN = "123456:AAHsecret-token_value0123456789abcd"


def token(bot_id: int, tag: str) -> str:
    """A token of Telegram's shape (id, colon, 35 URL-safe characters) that says which it is."""
    return f"{bot_id}:{tag.ljust(35, 'x')}"


REQUIRED = {
    "API_ID": "12345",
    "API_HASH": API_HASH,
    "BOT_TOKEN": BOT_TOKEN,
    "BIN_CHANNEL": "-1001234567890",
}
_OURS = re.compile(
    r"(?i)(multi_token[0-9]*|" + "|".join(name.upper() for name in Settings.model_fields) + ")"
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Run every test in an empty directory with none of our variables set."""
    for name in list(os.environ):
        if _OURS.fullmatch(name):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The four required variables, valid; tests override or delete from there."""
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def config_error(**overrides: str) -> ConfigError:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in overrides.items():
            mp.setenv(name, value)
        with pytest.raises(ConfigError) as info:
            load_settings()
    error = info.value
    assert str(error) == f"{error.variable_name}: {error.reason}"
    assert "\n" not in str(error)
    return error


# --- required variables ----------------------------------------------------------


def test_minimal_environment(env: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert s.api_id == 12345
    assert s.api_hash.get_secret_value() == API_HASH
    assert s.bot_token.get_secret_value() == BOT_TOKEN
    assert s.bin_channel == -1001234567890
    assert s.multi_tokens == []
    assert s.bind_address == "0.0.0.0"
    assert s.port == 8080
    assert s.public_url == "http://localhost:8080"
    assert s.session_dir == Path("sessions")
    assert s.allowed_users == frozenset()
    assert s.tg_dc_addresses == {}
    assert s.tg_rsa_public_key is None
    assert s.parts_in_flight == 16
    assert s.connections_per_dc == 8
    assert s.requests_per_connection == 2
    assert s.cache_size_mb == 64
    assert s.first_part_kb == 128
    assert s.first_part_size == 128 * 1024
    assert s.flood_sleep_threshold == 10
    assert s.log_level == "INFO"
    assert s.log_json is True


@pytest.mark.parametrize("name", list(REQUIRED))
def test_missing_required_variable_is_named(env: pytest.MonkeyPatch, name: str) -> None:
    env.delenv(name)
    error = config_error()
    assert error.variable_name == name
    assert str(error) == f"{name}: missing (set it in the environment or .env)"


@pytest.mark.parametrize("name", list(REQUIRED))
def test_empty_value_counts_as_missing(env: pytest.MonkeyPatch, name: str) -> None:
    error = config_error(**{name: ""})
    assert error.variable_name == name
    assert error.reason.startswith("missing")


def test_missing_bot_token_exact_message(env: pytest.MonkeyPatch) -> None:
    env.delenv("BOT_TOKEN")
    with pytest.raises(
        ConfigError, match=r"^BOT_TOKEN: missing \(set it in the environment or \.env\)$"
    ):
        load_settings()


def test_first_offending_variable_is_reported(env: pytest.MonkeyPatch) -> None:
    env.delenv("API_ID")
    env.setenv("PORT", "abc")
    assert config_error().variable_name == "API_ID"


def test_error_hides_the_validation_error_chain(env: pytest.MonkeyPatch) -> None:
    env.setenv("BOT_TOKEN", "not-a-token-but-secret")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


# --- malformed values ----------------------------------------------------------------


def test_port_message(env: pytest.MonkeyPatch) -> None:
    assert str(config_error(PORT="0")) == (
        "PORT: Input should be greater than or equal to 1, got '0'"
    )


@pytest.mark.parametrize(
    ("port", "bound"),
    [
        ("0", "greater than or equal to 1"),
        ("65536", "less than or equal to 65535"),
        ("-1", "greater than or equal to 1"),
        ("80.5", "a valid integer"),
        ("eighty", "a valid integer"),
        ("1e3", "a valid integer"),
    ],
)
def test_bad_port_is_named_with_its_bound(env: pytest.MonkeyPatch, port: str, bound: str) -> None:
    error = config_error(PORT=port)
    assert error.variable_name == "PORT"
    assert bound in error.reason and repr(port) in error.reason


@pytest.mark.parametrize("port", ["1", "443", "65535"])
def test_good_port(env: pytest.MonkeyPatch, port: str) -> None:
    env.setenv("PORT", port)
    assert load_settings().port == int(port)


@pytest.mark.parametrize("api_id", ["abc", "0", "-5", "1.5", ""])
def test_bad_api_id_is_named(env: pytest.MonkeyPatch, api_id: str) -> None:
    assert config_error(API_ID=api_id).variable_name == "API_ID"


@pytest.mark.parametrize("channel", ["123", "1001234567890", "-123", "-100", "-1", "0"])
def test_bad_bin_channel_is_named(env: pytest.MonkeyPatch, channel: str) -> None:
    error = config_error(BIN_CHANNEL=channel)
    assert error.variable_name == "BIN_CHANNEL"
    assert "-100" in error.reason


def test_bin_channel_must_be_a_number(env: pytest.MonkeyPatch) -> None:
    error = config_error(BIN_CHANNEL="abc")
    assert error.variable_name == "BIN_CHANNEL"
    assert "valid integer" in error.reason


def test_bin_channel_positive_id_message(env: pytest.MonkeyPatch) -> None:
    assert str(config_error(BIN_CHANNEL="1234567890")) == (
        "BIN_CHANNEL: must be a channel id starting with -100 (e.g. -1001234567890), got 1234567890"
    )


@pytest.mark.parametrize(
    "value",
    [
        "1",
        "1=",
        "=127.0.0.1:1",
        "1=127.0.0.1",
        "1=127.0.0.1:",
        "1=127.0.0.1:0",
        "1=127.0.0.1:65536",
        "1=127.0.0.1:port",
        "0=127.0.0.1:1",
        "6=127.0.0.1:1",
        "x=127.0.0.1:1",
        "1=:40001",
        "1=::1:40001",
        "1=[::1]",
        "1=[::1:40001",
        "1=[::1]40001",
        "1=a:1,1=b:2",
        "1=a:1;2=b:2",
    ],
)
def test_bad_dc_addresses_are_named(env: pytest.MonkeyPatch, value: str) -> None:
    error = config_error(TG_DC_ADDRESSES=value)
    assert error.variable_name == "TG_DC_ADDRESSES"


def test_dc_addresses(env: pytest.MonkeyPatch) -> None:
    env.setenv("TG_DC_ADDRESSES", " 1=127.0.0.1:40001, 2 = localhost:40002,,5=[::1]:40005, 4=h:1,")
    assert load_settings().tg_dc_addresses == {
        1: ("127.0.0.1", 40001),
        2: ("localhost", 40002),
        4: ("h", 1),
        5: ("::1", 40005),
    }


def test_bot_token_shape_is_checked_without_echoing_it(env: pytest.MonkeyPatch) -> None:
    error = config_error(BOT_TOKEN="hunter2-not-a-token")
    assert error.variable_name == "BOT_TOKEN"
    assert "hunter2" not in str(error)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HAS_SSL", "maybe"),
        ("NO_PORT", "2"),
        ("LOG_JSON", "yes please"),
        ("PARTS_IN_FLIGHT", "0"),
        ("PARTS_IN_FLIGHT", "many"),
        ("CONNECTIONS_PER_DC", "0"),
        ("WARM_DCS", "-1"),
        ("WARM_DCS", "6"),
        ("WARM_DCS", "all"),
        ("CACHE_SIZE_MB", "-1"),
        ("CACHE_DISK_MB", "-1"),
        ("CACHE_DISK_MB", "lots"),
        ("FLOOD_SLEEP_THRESHOLD", "-1"),
        ("FIRST_PART_KB", "100"),
        ("FIRST_PART_KB", "2"),
        ("FIRST_PART_KB", "2048"),
        ("LOG_LEVEL", "LOUD"),
        ("ALLOWED_USERS", "1,two"),
        ("ALLOWED_USERS", "-5"),
        ("PUBLIC_URL", "example.com"),
        ("PUBLIC_URL", "ftp://example.com"),
        ("PUBLIC_URL", "https://example.com/?x=1"),
        ("TG_RSA_PUBLIC_KEY", "/no/such/key.pem"),
        ("TG_RSA_PUBLIC_KEY", "-----BEGIN RSA PUBLIC KEY-----\nxx\n-----END RSA PUBLIC KEY-----"),
    ],
)
def test_other_bad_values_are_named(env: pytest.MonkeyPatch, name: str, value: str) -> None:
    error = config_error(**{name: value})
    assert error.variable_name == name
    assert error.reason


# --- MULTI_TOKENn ----------------------------------------------------------------------


def tokens(s: Settings) -> list[str]:
    return [t.get_secret_value() for t in s.multi_tokens]


def test_multi_tokens_numeric_order_with_gaps(env: pytest.MonkeyPatch) -> None:
    env.setenv("MULTI_TOKEN10", token(10, "ten"))
    env.setenv("MULTI_TOKEN2", token(2, "two"))
    env.setenv("MULTI_TOKEN1", token(1, "one"))
    env.setenv("MULTI_TOKEN7", token(7, "seven"))
    assert tokens(load_settings()) == [
        token(1, "one"),
        token(2, "two"),
        token(7, "seven"),
        token(10, "ten"),
    ]


def test_multi_token_lookalikes_are_ignored(env: pytest.MonkeyPatch) -> None:
    env.setenv("MULTI_TOKEN", token(1, "a"))
    env.setenv("MULTI_TOKENX", token(1, "b"))
    env.setenv("MULTI_TOKENS", f'["{token(1, "c")}"]')
    env.setenv("MULTI_TOKEN_1", token(1, "d"))
    env.setenv("MULTI_TOKEN3", "")
    assert tokens(load_settings()) == []


def test_multi_tokens_from_env_file_and_environment(
    env: pytest.MonkeyPatch, clean_env: Path
) -> None:
    (clean_env / ".env").write_text(
        f"MULTI_TOKEN1={token(1, 'file')}\nMULTI_TOKEN3={token(3, 'file')}\n"
    )
    env.setenv("MULTI_TOKEN2", token(2, "env"))
    env.setenv("MULTI_TOKEN3", token(3, "env"))  # the environment wins, as for every variable
    assert tokens(load_settings()) == [token(1, "file"), token(2, "env"), token(3, "env")]


def test_bad_multi_token_names_its_variable(env: pytest.MonkeyPatch) -> None:
    env.setenv("MULTI_TOKEN1", token(1, "good"))
    error = config_error(MULTI_TOKEN12="leaky-value")
    assert error.variable_name == "MULTI_TOKEN12"
    assert "leaky" not in str(error)


# --- PUBLIC_URL ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "url"),
    [
        ({}, "http://localhost:8080"),
        ({"BIND_ADDRESS": "127.0.0.1"}, "http://127.0.0.1:8080"),
        ({"BIND_ADDRESS": "::"}, "http://localhost:8080"),
        ({"BIND_ADDRESS": "::1"}, "http://[::1]:8080"),
        ({"PORT": "9000"}, "http://localhost:9000"),
        ({"FQDN": "files.example.com"}, "http://files.example.com:8080"),
        ({"FQDN": "files.example.com", "HAS_SSL": "true"}, "https://files.example.com:8080"),
        (
            {"FQDN": "files.example.com", "HAS_SSL": "True", "NO_PORT": "1"},
            "https://files.example.com",
        ),
        ({"NO_PORT": "true"}, "http://localhost"),
        ({"BIND_ADDRESS": "10.0.0.2", "FQDN": "f.example"}, "http://f.example:8080"),
        ({"PUBLIC_URL": "https://cdn.example.com/"}, "https://cdn.example.com"),
        ({"PUBLIC_URL": "https://x.example/base/", "FQDN": "ignored"}, "https://x.example/base"),
        ({"PUBLIC_URL": "  http://h:81  "}, "http://h:81"),
    ],
)
def test_public_url(env: pytest.MonkeyPatch, extra: dict[str, str], url: str) -> None:
    for name, value in extra.items():
        env.setenv(name, value)
    assert load_settings().public_url == url


# --- secrets ---------------------------------------------------------------------------


def test_repr_and_str_hide_secrets(env: pytest.MonkeyPatch) -> None:
    env.setenv("MULTI_TOKEN1", token(99, "multi-secret"))
    env.setenv("SECRET", "link-signing-secret")
    s = load_settings()
    for text in (repr(s), str(s), repr(s.model_dump()), str(s.multi_tokens)):
        for secret in (API_HASH, BOT_TOKEN, "multi-secret", "link-signing-secret"):
            assert secret not in text


def test_derived_secret_is_hidden_stable_and_tied_to_the_bot_token(
    env: pytest.MonkeyPatch,
) -> None:
    first = load_settings().secret.get_secret_value()
    assert first
    assert first not in repr(load_settings())
    assert load_settings().secret.get_secret_value() == first  # survives restarts
    expected = hmac.new(BOT_TOKEN.encode(), b"tgstream-link-secret-v1", hashlib.sha256)
    assert first == expected.hexdigest()
    env.setenv("BOT_TOKEN", token(123456, "another"))
    assert load_settings().secret.get_secret_value() != first


def test_explicit_secret_wins(env: pytest.MonkeyPatch) -> None:
    env.setenv("SECRET", "mine")
    assert load_settings().secret.get_secret_value() == "mine"


# --- the rest ----------------------------------------------------------------------------


def test_allowed_users(env: pytest.MonkeyPatch) -> None:
    env.setenv("ALLOWED_USERS", " 1, 22 ,333,, 1")
    assert load_settings().allowed_users == frozenset({1, 22, 333})


def test_tunables_and_levels(env: pytest.MonkeyPatch) -> None:
    env.setenv("PARTS_IN_FLIGHT", "3")
    env.setenv("CONNECTIONS_PER_DC", "2")
    env.setenv("CACHE_SIZE_MB", "0")
    env.setenv("FIRST_PART_KB", "0")
    env.setenv("FLOOD_SLEEP_THRESHOLD", "60")
    env.setenv("LOG_LEVEL", "debug")
    env.setenv("LOG_JSON", "false")
    env.setenv("SESSION_DIR", "/var/lib/tgstream")
    s = load_settings()
    assert (s.parts_in_flight, s.connections_per_dc, s.cache_size_mb) == (3, 2, 0)
    assert s.first_part_kb == 0 and s.first_part_size is None
    assert s.flood_sleep_threshold == 60
    assert s.log_level == "DEBUG"
    assert s.log_json is False
    assert s.session_dir == Path("/var/lib/tgstream")


def test_the_disk_tier_sits_beside_the_sessions_by_default(env: pytest.MonkeyPatch) -> None:
    env.setenv("SESSION_DIR", "/var/lib/tgstream/sessions")
    s = load_settings()
    assert s.cache_disk_mb == 2048
    assert s.cache_dir == Path("/var/lib/tgstream/cache")
    env.setenv("CACHE_DIR", "/srv/parts")
    env.setenv("CACHE_DISK_MB", "0")
    s = load_settings()
    assert (s.cache_dir, s.cache_disk_mb) == (Path("/srv/parts"), 0)


@pytest.mark.parametrize("kb", ["4", "64", "1024"])
def test_first_part_sizes(env: pytest.MonkeyPatch, kb: str) -> None:
    env.setenv("FIRST_PART_KB", kb)
    assert load_settings().first_part_size == int(kb) * 1024


def _rsa_key() -> rsa.RSAPublicKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()


def test_rsa_key_as_text_file_or_escaped_line(env: pytest.MonkeyPatch, clean_env: Path) -> None:
    key = _rsa_key()
    pem = key.public_bytes(Encoding.PEM, PublicFormat.PKCS1).decode()
    env.setenv("TG_RSA_PUBLIC_KEY", pem)
    assert load_settings().tg_rsa_public_key == key.public_numbers()
    (clean_env / "server.pem").write_text(pem)
    env.setenv("TG_RSA_PUBLIC_KEY", "server.pem")
    assert load_settings().tg_rsa_public_key == key.public_numbers()
    env.setenv("TG_RSA_PUBLIC_KEY", pem.strip().replace("\n", "\\n"))
    assert load_settings().tg_rsa_public_key == key.public_numbers()


def test_rsa_key_must_be_rsa(env: pytest.MonkeyPatch) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = ec_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    error = config_error(TG_RSA_PUBLIC_KEY=pem)
    assert error.variable_name == "TG_RSA_PUBLIC_KEY"
    assert "RSA" in error.reason


# --- the .env file -----------------------------------------------------------------------


def _write_env_file(directory: Path, **values: str) -> None:
    (directory / ".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))


def test_env_file_in_working_directory(clean_env: Path) -> None:
    _write_env_file(clean_env, **REQUIRED, PORT="9999")
    s = load_settings()
    assert s.port == 9999
    assert s.bot_token.get_secret_value() == BOT_TOKEN


def test_environment_beats_env_file(clean_env: Path, env: pytest.MonkeyPatch) -> None:
    _write_env_file(clean_env, PORT="9999", BOT_TOKEN=token(1, "file"))
    env.setenv("PORT", "7000")
    s = load_settings()
    assert s.port == 7000
    assert s.bot_token.get_secret_value() == BOT_TOKEN


def test_env_file_errors_are_named_too(clean_env: Path) -> None:
    _write_env_file(clean_env, **REQUIRED, PORT="http")
    assert config_error().variable_name == "PORT"


def test_env_file_none_reads_only_the_environment(clean_env: Path) -> None:
    _write_env_file(clean_env, **REQUIRED)
    with pytest.raises(ConfigError, match=r"^API_ID: missing"):
        load_settings(env_file=None)


def test_other_env_file_name(clean_env: Path) -> None:
    (clean_env / "prod.env").write_text("".join(f"{k}={v}\n" for k, v in REQUIRED.items()))
    assert load_settings("prod.env").api_id == 12345
    with pytest.raises(ConfigError):
        load_settings()


def test_unknown_variables_in_env_file_are_ignored(clean_env: Path) -> None:
    _write_env_file(clean_env, **REQUIRED, SOMETHING_ELSE="1", UPDATES_CHANNEL="x")
    assert load_settings().api_id == 12345


def test_state_url_unset_is_the_sqlite_in_session_dir(env: pytest.MonkeyPatch) -> None:
    assert load_settings().state_url is None
    env.setenv("STATE_URL", "")
    assert load_settings().state_url is None


def test_state_url_names_a_redis(env: pytest.MonkeyPatch) -> None:
    env.setenv("STATE_URL", " redis://:pw@10.0.0.5:6379/2 ")
    assert load_settings().state_url == "redis://:pw@10.0.0.5:6379/2"


@pytest.mark.parametrize("url", ["http://10.0.0.5:6379", "10.0.0.5:6379", "redis:///0"])
def test_a_state_url_that_is_no_redis_is_named(env: pytest.MonkeyPatch, url: str) -> None:
    error = config_error(STATE_URL=url)
    assert error.variable_name == "STATE_URL" and "redis://" in error.reason


def test_the_shared_state_timeout_and_the_lease_fit_together(env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert (settings.state_timeout, settings.lease) == (2.0, 10.0)
    env.setenv("STATE_TIMEOUT", "0.5")
    env.setenv("LEASE", "1.5")
    settings = load_settings()
    assert (settings.state_timeout, settings.lease) == (0.5, 1.5)
    # A renewal that may take the whole lease could never be retried before it runs out.
    error = config_error(STATE_TIMEOUT="5", LEASE="10")
    assert error.variable_name == "LEASE" and "STATE_TIMEOUT (5 s)" in error.reason
    assert config_error(STATE_TIMEOUT="0").variable_name == "STATE_TIMEOUT"


# --- Telegram's credential shapes --------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "x",
        "0123456789abcdef0123456789abcde",  # 31
        "0123456789abcdef0123456789abcdef0",  # 33
        "0123456789abcdef0123456789abcdeg",  # not hex
        "0123456789abcdef 0123456789abcde",
        "secretsecretsecretsecretsecret!!",
    ],
)
def test_api_hash_must_be_32_hex_characters(env: pytest.MonkeyPatch, value: str) -> None:
    error = config_error(API_HASH=value)
    assert str(error) == (
        "API_HASH: must be the 32 hexadecimal characters my.telegram.org gave you"
    )
    assert value.strip() not in str(error) or len(value) < 4


@pytest.mark.parametrize("value", ["0123456789ABCDEF0123456789abcdef", " " + API_HASH + " "])
def test_api_hash_any_case_surrounding_blanks_dropped(env: pytest.MonkeyPatch, value: str) -> None:
    env.setenv("API_HASH", value)
    assert load_settings().api_hash.get_secret_value() == value.strip()


@pytest.mark.parametrize(
    "value",
    [
        "1:abc",
        "abc",
        ":" + "A" * 35,
        "x1:" + "A" * 35,
        "123:" + "A" * 34,
        "123:" + "A" * 36,
        "123:" + "A" * 34 + "!",
        "123:" + "A" * 34 + "=",
        "123 :" + "A" * 35,
        "123:" + "A" * 17 + " " + "A" * 17,
    ],
)
def test_bot_token_must_have_telegrams_shape(env: pytest.MonkeyPatch, value: str) -> None:
    error = config_error(BOT_TOKEN=value)
    assert error.variable_name == "BOT_TOKEN"
    assert "35 characters" in error.reason
    secret_half = value.partition(":")[2]
    assert value not in str(error) and (len(secret_half) < 4 or secret_half not in str(error))


@pytest.mark.parametrize(
    "value",
    [
        "1:" + "A" * 35,
        "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw-",
        "7000000001:AA" + "z9" * 16 + "_",
    ],
)
def test_bot_tokens_of_telegrams_shape_pass(env: pytest.MonkeyPatch, value: str) -> None:
    env.setenv("BOT_TOKEN", value)
    env.setenv("MULTI_TOKEN1", value)
    settings = load_settings()
    assert settings.bot_token.get_secret_value() == value
    assert tokens(settings) == [value]


def test_a_short_multi_token_is_named_without_its_value(env: pytest.MonkeyPatch) -> None:
    error = config_error(MULTI_TOKEN3="42:abc")
    assert error.variable_name == "MULTI_TOKEN3" and "abc" not in str(error)


def test_the_emulators_bot_tokens_pass(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What tgemu issues (and the demo, the bench and the tests run on) is accepted."""
    from tgemu.world import EmulatorConfig, World

    world = World(EmulatorConfig(tmp_path / "emulator", bots=3), lambda user, updates: None)
    bots = world.bots
    for index, bot in enumerate(bots):
        assert bot.token is not None
        env.setenv("BOT_TOKEN" if index == 0 else f"MULTI_TOKEN{index}", bot.token)
    env.setenv("API_HASH", world.api_hash)
    settings = load_settings()
    assert [settings.bot_token.get_secret_value(), *tokens(settings)] == [b.token for b in bots]
