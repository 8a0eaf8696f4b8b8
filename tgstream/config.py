"""Settings from the environment and a ``.env`` file.

Variable names follow TG-FileStreamBot (API_ID, API_HASH, BOT_TOKEN, BIN_CHANNEL,
MULTI_TOKEN1..n, BIND_ADDRESS, PORT, FQDN, HAS_SSL, NO_PORT), so an existing
deployment's ``.env`` keeps working.  Environment variables win over ``.env``,
and a variable set to the empty string counts as unset, which is what
``KEY=`` lines in compose files and ``.env`` templates mean.

``load_settings`` is the entry point: it turns pydantic's error report into a
one-line :class:`ConfigError` naming the environment variable to fix.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any, Final, cast
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers
from limits import parse as parse_limit
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from .links import parse_duration
from .telegram.network import DcAddresses, parse_dc_addresses, read_rsa_public_key

__all__ = ["ConfigError", "Settings", "load_settings"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Telegram's shapes: @BotFather's tokens are the bot's id, a colon and 35 characters of
# URL-safe base64; my.telegram.org's API hash is 16 bytes in hex.
_BOT_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]{35}")
_API_HASH = re.compile(r"[0-9a-fA-F]{32}")
_MULTI_TOKEN = re.compile(r"multi_token([0-9]+)", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]+")
# Changing this label changes every derived secret and so revokes every link.
_SECRET_LABEL: Final = b"tgstream-link-secret-v1"


class ConfigError(Exception):
    """A configuration problem, pinned on one environment variable.

    ``str(error)`` is a single line, ``"{variable_name}: {reason}"``, fit to be
    printed as is; it never contains the value of a secret variable.
    """

    def __init__(self, variable_name: str, reason: str) -> None:
        super().__init__(f"{variable_name}: {reason}")
        self.variable_name = variable_name
        self.reason = reason


class _EnvValueError(ValueError):
    """A validation failure whose variable is not the field's own name (MULTI_TOKENn)."""

    def __init__(self, variable_name: str, reason: str) -> None:
        super().__init__(reason)
        self.variable_name = variable_name
        self.reason = reason


class _MultiTokenSource(PydanticBaseSettingsSource):
    """Gathers MULTI_TOKEN<n> from ``.env`` and the environment, in numeric order.

    The set of names is open-ended, so no field can declare them.  The value
    handed on is ``{ENV_NAME: token}`` rather than a bare list so validation
    can name the exact variable at fault.
    """

    def __init__(
        self, settings_cls: type[BaseSettings], *sources: PydanticBaseSettingsSource
    ) -> None:
        super().__init__(settings_cls)
        # Lowest priority first: later sources overwrite earlier ones.
        self._sources = sources

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Unused: __call__ builds the whole contribution itself.
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[int, tuple[str, str]] = {}
        for source in self._sources:
            if not isinstance(source, EnvSettingsSource):
                continue
            for name, value in source.env_vars.items():
                match = _MULTI_TOKEN.fullmatch(name)
                if match and value:
                    found[int(match[1])] = (name.upper(), value)
        tokens = {name: value for _, (name, value) in sorted(found.items())}
        # Always present, so a stray MULTI_TOKENS variable can never feed the field.
        return {"multi_tokens": tokens}


def _check_bot_token(value: str, variable_name: str) -> SecretStr:
    if not _BOT_TOKEN.fullmatch(value):
        # Never echo the value: it is a credential, even when mistyped.
        raise _EnvValueError(
            variable_name,
            "must be the token @BotFather gave you: digits, a colon and 35 characters of "
            "A-Z a-z 0-9 _ - (like 123456789:AAH...)",
        )
    return SecretStr(value)


def _url_host(host: str) -> str:
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = False
    return f"[{host}]" if is_v6 else host


def _derived_public_url(fields: dict[str, Any]) -> str:
    """TG-FileStreamBot's way: FQDN (else the bind address), HAS_SSL and NO_PORT."""
    host = fields.get("fqdn") or fields.get("bind_address", "")
    if host in ("0.0.0.0", "::", ""):
        # A wildcard bind address is not something a browser can reach.
        host = "localhost"
    scheme = "https" if fields.get("has_ssl") else "http"
    port = "" if fields.get("no_port") else f":{fields.get('port')}"
    return f"{scheme}://{_url_host(host)}{port}"


class Settings(BaseSettings):
    """All runtime settings; see the module docstring for where they come from.

    Field names are the lower-case variable names.  Secrets are ``SecretStr``
    so they never show up in ``repr``/``str`` or logs; call
    ``.get_secret_value()`` where the real value is needed.
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        env_ignore_empty=True,
        extra="ignore",
        arbitrary_types_allowed=True,
    )

    # Telegram credentials.
    api_id: int = Field(gt=0)
    api_hash: SecretStr
    bot_token: SecretStr
    bin_channel: int
    multi_tokens: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)

    # HTTP server and the public address links are built from.
    bind_address: str = "0.0.0.0"
    port: int = Field(default=8080, ge=1, le=65535)
    fqdn: str | None = None
    has_ssl: bool = False
    no_port: bool = False
    public_url: str = Field(default="", validate_default=True)
    """Effective base URL with no trailing slash: PUBLIC_URL, else built from the fields
    above (so it is declared after them)."""

    session_dir: Path = Path("./sessions")
    state_url: str | None = None
    """Where the state lives: unset, the SQLite file in SESSION_DIR (one server);
    `redis://host:port/db`, Redis shared by replicas."""
    secret: SecretStr = Field(default=SecretStr(""), validate_default=True)
    """Effective link-signing secret: SECRET, else derived from BOT_TOKEN."""

    allowed_users: Annotated[frozenset[int], NoDecode] = frozenset()
    """Telegram user ids allowed to use the bot; empty means everyone."""
    owners: Annotated[frozenset[int], NoDecode] = frozenset()
    """Telegram user ids who run the bot: always allowed, and the only ones who may /revoke,
    /ban, /unban and read /users and /stats.  Empty: nobody has those commands."""
    link_ttl: Annotated[int | None, NoDecode] = None
    """Lifetime in seconds of the links the bot answers a file with (a duration: 3600, 90m,
    24h, 7d); None means they never end."""

    # Pointing the client at other DCs, e.g. the tgemu emulator.
    tg_dc_addresses: Annotated[DcAddresses, NoDecode] = Field(default_factory=dict)
    """DC id -> (host, port); empty means Telegram's production DCs."""
    tg_rsa_public_key: RSAPublicNumbers | None = None
    """The server's RSA key, from PEM text or a PEM file's path; None means Telegram's."""

    # Tunables.
    parts_in_flight: int = Field(default=16, ge=1, le=64)
    """Read-ahead of one stream, in parts; the connections' slots bound what is really sent."""
    connections_per_dc: int = Field(default=8, ge=1, le=32)
    warm_dcs: int = Field(default=2, ge=0, le=5)
    """How many DCs a start-up opens connections to before anyone asks: those that served the
    most streams, each from its persisted key (never a new key or an import); 0 = none."""
    requests_per_connection: int = Field(default=2, ge=1, le=16)
    """Requests outstanding on one connection: enough to keep it busy through a round trip,
    few enough that a viewer who leaves wastes little and a new one waits little."""
    cache_size_mb: int = Field(default=64, ge=0)
    """The RAM part cache, in MiB: the parts being served and those just served.  Parts
    served before come from the disk tier under it (CACHE_DISK_MB), so RAM holds only the
    hot set: 64 parts, four viewers' full read-ahead, and a peak RSS within 250 MB."""
    cache_disk_mb: int = Field(default=2048, ge=0, le=16 * 1024 * 1024)
    """Budget of the disk tier under the part cache, in MiB; 0 turns it off."""
    cache_dir: Path = Field(default=Path(""), validate_default=True)
    """Effective disk tier directory: CACHE_DIR, else a `cache` folder beside SESSION_DIR
    (not inside it: SESSION_DIR holds the sessions, and its backups need not hold parts)."""
    first_part_kb: int = 128
    """Size of the first upstream request of a stream; 0 turns the small first part off."""
    verify_parts: bool = True
    """Check every part fetched from Telegram against its SHA-256 ranges (upload.getFileHashes)
    before it is served or cached; a part that fails is fetched again, never served."""
    flood_sleep_threshold: int = Field(default=10, ge=0)
    """FLOOD_WAITs up to this are slept by the request that hit them; longer ones move the
    work to another bot or answer 503.  The client library sleeps no longer than this."""
    first_byte_deadline: float = Field(default=20.0, gt=0, le=600)
    """Seconds a request may wait for its first body byte before it is answered 503."""
    file_recheck: float = Field(default=600.0, ge=1)
    """Seconds a resolved file is trusted before its message is fetched again."""
    frame_ancestors: str = Field(default="'self'", pattern=r"^[A-Za-z0-9*:/.'_ -]{1,500}$")
    """CSP frame-ancestors of the watch page: who may embed it ('none', 'self', origins)."""
    request_head_timeout: float = Field(default=10.0, gt=0, le=300)
    """Seconds a connection may take to send a complete request head."""
    stall_timeout: float = Field(default=300.0, gt=0)
    """Seconds a response may wait for a viewer who reads nothing before it is cut."""
    max_connections: int = Field(default=10_000, ge=1)
    """Open client connections at most (also bounded by the open-file limit)."""

    # Abuse limits of the link routes, per client address (web/abuse.py).
    rate_limit: str | None = None
    """Requests to /dl, /watch, /thumb and /m3u per client address, in the `limits` notation
    (`120/minute`, `10/second`, `1000/hour`); unset, no rate limit."""
    max_streams_per_ip: int = Field(default=0, ge=0, le=100_000)
    """Downloads in progress at once per client address; 0, no limit."""
    trusted_proxies: Annotated[tuple[IPNetwork, ...], NoDecode] = ()
    """Peers (addresses and CIDR networks) whose X-Forwarded-For names the client; empty,
    the header is never believed and the TCP peer is the client."""
    dav_users: Annotated[dict[str, SecretStr], NoDecode] = Field(default_factory=dict)
    """Who may use the read-only WebDAV view at {PUBLIC_URL}/dav/ (HTTP Basic):
    `user:password` pairs, comma-separated; empty, the view is off (404)."""
    transcode_slots: int = Field(default=0, ge=0, le=256, validate_default=True)
    """HLS segments made at once (PyAV jobs: audio transcoded to AAC, video copied); past it,
    a segment request answers 503 with Retry-After.  Effective value: TRANSCODE_SLOTS, else
    (unset or 0) the number of CPUs."""
    state_timeout: float = Field(default=2.0, gt=0, le=60.0)
    """Seconds a command to a shared state (Redis) may take before the state counts as
    unavailable: reads answer 503, writes wait for it."""
    lease: float = Field(default=10.0, ge=1.0, le=300.0)
    """Seconds of the leader lease on a shared state: the replica holding it handles the
    bot's updates; another takes over within this after it dies."""
    log_level: str = "INFO"
    log_json: bool = True

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        multi = _MultiTokenSource(settings_cls, dotenv_settings, env_settings)
        return init_settings, multi, env_settings, dotenv_settings, file_secret_settings

    @field_validator("api_hash")
    @classmethod
    def _api_hash_shape(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value().strip()
        if not _API_HASH.fullmatch(text):
            # Never echo the value, not even its length: it is a credential.
            raise ValueError("must be the 32 hexadecimal characters my.telegram.org gave you")
        return SecretStr(text)

    @field_validator("bot_token", mode="before")
    @classmethod
    def _bot_token_shape(cls, value: object) -> object:
        if isinstance(value, str):
            return _check_bot_token(value.strip(), "BOT_TOKEN")
        return value

    @field_validator("bin_channel")
    @classmethod
    def _bin_channel_is_channel(cls, value: int) -> int:
        text = str(value)
        if not (text.startswith("-100") and len(text) > 4):
            raise ValueError(
                f"must be a channel id starting with -100 (e.g. -1001234567890), got {value}"
            )
        return value

    @field_validator("multi_tokens", mode="before")
    @classmethod
    def _collect_multi_tokens(cls, value: object) -> object:
        if isinstance(value, dict):
            return [_check_bot_token(str(v).strip(), str(k)) for k, v in value.items()]
        if isinstance(value, list):
            return [
                _check_bot_token(v.strip(), "MULTI_TOKENS") if isinstance(v, str) else v
                for v in value
            ]
        return value

    @field_validator("transcode_slots")
    @classmethod
    def _transcode_slots(cls, value: int) -> int:
        return value or os.cpu_count() or 1

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if not value:
            return _derived_public_url(info.data)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"must be an http(s) URL like https://files.example.com, got {value!r}"
            )
        if parts.query or parts.fragment:
            raise ValueError(f"must not have a query or fragment, got {value!r}")
        return value.rstrip("/")

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        token = info.data.get("bot_token")
        if value.get_secret_value() or token is None:
            return value  # no token: its own error is the one reported
        # Links must survive restarts without the operator having to invent a secret.  The
        # bot token is already secret and stable, the label keeps this key apart from any
        # other use of the token, and a rotated (e.g. leaked) token revokes every old link.
        derived = hmac.new(token.get_secret_value().encode(), _SECRET_LABEL, hashlib.sha256)
        return SecretStr(derived.hexdigest())

    @field_validator("cache_dir")
    @classmethod
    def _cache_dir(cls, value: Path, info: ValidationInfo) -> Path:
        if str(value) not in ("", "."):
            return value
        session_dir = info.data.get("session_dir")
        if session_dir is None:
            return value  # SESSION_DIR's own error is the one reported
        return Path(session_dir).absolute().parent / "cache"

    @field_validator("state_url")
    @classmethod
    def _state_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(
                "must be a Redis URL like redis://127.0.0.1:6379/0 (unset: SQLite in "
                f"SESSION_DIR), got a {parts.scheme or 'schemeless'} URL"
            )
        if parts.scheme != "unix" and not parts.hostname:
            raise ValueError("must name a host, like redis://127.0.0.1:6379/0")
        return value.strip()

    @field_validator("lease")
    @classmethod
    def _lease(cls, value: float, info: ValidationInfo) -> float:
        # A renewal is tried three times a period: each may time out once and leave time.
        timeout = info.data.get("state_timeout")
        if timeout is not None and value < 3 * timeout:
            raise ValueError(
                f"must be at least three times STATE_TIMEOUT ({timeout:g} s), got {value:g}"
            )
        return value

    @field_validator("link_ttl", mode="before")
    @classmethod
    def _link_ttl(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_duration(value) if value.strip() else None
        if isinstance(value, int) and not isinstance(value, bool):
            return parse_duration(str(value))
        return value

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            item = parse_limit(value.strip())
        except ValueError:
            item = None
        if item is None or item.amount < 1:
            raise ValueError(
                f"must be a positive rate like 120/minute, 10/second or 1000/hour, got {value!r}"
            )
        return value.strip()

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        networks: list[IPNetwork] = []
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item))
            except ValueError:
                raise ValueError(
                    "must be comma-separated IP addresses or networks like "
                    f"127.0.0.1,10.0.0.0/8 (no host bits after the prefix), got {item!r}"
                ) from None
        return tuple(networks)

    @field_validator("dav_users", mode="before")
    @classmethod
    def _split_dav_users(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        users: dict[str, SecretStr] = {}
        for position, item in enumerate((p for p in value.split(",") if p.strip()), 1):
            user, colon, password = item.strip().partition(":")
            # Never echo the item: it holds a password.  Its position says which to fix.
            if not colon or not user or not password:
                raise ValueError(f"pair {position} is not user:password")
            if user in users:
                raise ValueError(f"pair {position} repeats the user {user!r}")
            users[user] = SecretStr(password)
        return users

    @field_validator("allowed_users", "owners", mode="before")
    @classmethod
    def _split_user_ids(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        ids: set[int] = set()
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            if not _DIGITS.fullmatch(item):
                raise ValueError(f"must be comma-separated numeric user ids, got {item!r}")
            ids.add(int(item))
        return frozenset(ids)

    @field_validator("tg_dc_addresses", mode="before")
    @classmethod
    def _parse_dcs(cls, value: object) -> object:
        return parse_dc_addresses(value) if isinstance(value, str) else value

    @field_validator("tg_rsa_public_key", mode="before")
    @classmethod
    def _rsa_key(cls, value: object) -> object:
        if isinstance(value, str):
            return read_rsa_public_key(value.strip()) if value.strip() else None
        return value

    @field_validator("first_part_kb")
    @classmethod
    def _first_part_legal(cls, value: int) -> int:
        # Mirrors Telegram's non-precise limits: a power of two, 4 KiB .. 1 MiB.
        if value != 0 and not (4 <= value <= 1024 and value & (value - 1) == 0):
            raise ValueError(f"must be 0 or a power of two between 4 and 1024, got {value}")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}, got {value!r}")
        return level

    @property
    def first_part_size(self) -> int | None:
        """FIRST_PART_KB in bytes, as ``plan_parts(first_part_size=...)`` takes it."""
        return self.first_part_kb * 1024 or None


_SECRET_FIELDS: Final = frozenset({"api_hash", "bot_token", "dav_users", "multi_tokens", "secret"})


def _shorten(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _to_config_error(exc: ValidationError) -> ConfigError:
    error = exc.errors(include_url=False)[0]
    field = str(error["loc"][0]) if error["loc"] else ""
    variable = field.upper() or "settings"
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, _EnvValueError):
        return ConfigError(cause.variable_name, cause.reason)
    if error["type"] == "missing":
        return ConfigError(variable, "missing (set it in the environment or .env)")
    if isinstance(cause, ValueError):
        return ConfigError(variable, str(cause))
    if field in _SECRET_FIELDS:
        return ConfigError(variable, f"invalid ({error['msg']})")
    # Pydantic's own words carry the bound (">= 1", "a valid integer", the pattern).
    return ConfigError(variable, f"{error['msg']}, got {_shorten(error['input'])}")


def load_settings(env_file: str | None = ".env") -> Settings:
    """Read the settings, ``env_file`` (relative to the working directory) included.

    ``env_file=None`` reads the environment only; a missing file is not an error.
    Raises :class:`ConfigError` for the first variable that is missing or invalid.
    """
    # Typed as the base class because mypy, without the pydantic plugin, would
    # check the call against the synthesized field-wise __init__ instead.
    settings_cls: type[BaseSettings] = Settings
    try:
        settings = settings_cls(_env_file=env_file)
    except ValidationError as exc:
        # ``from None``: the ValidationError repr carries the raw inputs, secrets included.
        raise _to_config_error(exc) from None
    return cast(Settings, settings)
