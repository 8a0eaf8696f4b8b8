"""The shared store: Redis (`STATE_URL=redis://host:port/db`), read and written by every
replica, so a replica started next to others signs nothing in and imports nothing.

Everything the SQLite store keeps is here, and what a single process can keep in its own
files or memory too: each bot's own session (its home DC's key) and update state, and the
ids Telegram called missing.  When Redis does not answer, a read raises SharedStateDown
(the caller answers 503 with Retry-After, or goes on from memory); a write is kept, newest
per key, and written again once Redis answers, so nothing is lost.

Each write carries the wall-clock time it was made, and Redis keeps it only if nothing
newer was written to that key meanwhile (a script compares the stamps): a write kept
through an outage and replayed later never undoes what another replica wrote since.

Keys, all under `tgstream:`:
  auth:{bot}            hash  dc -> authorized flag byte + auth key
  session:{bot}         hash  the bot's own session fields (home DC key, user id, ...)
  updates:{bot}         hash  state id -> [pts, qts, date, seq]
  dcmap                 hash  media id -> "dc:learned"
  file:{message}        string  the resolved file and when Telegram last confirmed it
  missing:{message}     string  with a TTL: Telegram said the message is not there
  flood:{bot}:{method}  string  the wall-clock deadline, expiring with it
  revoked               set   bin-channel message ids whose links answer 410
  banned                set   user ids the bot refuses
  copies                hash  "{chat}:{message}" -> the bin-channel copy of a user's file
  index:{month}         hash  message id -> an indexed file (JSON), by month of posting
  index:where           hash  message id -> its month (which index:{month} holds it)
  probe:{media}         string  what a media probe found in the file (tgstream.media's JSON)
  served                hash  dc -> streams it served (added to, never stamped: each
                        replica's counts add up)
  written               hash  key (or key/field) -> when its last write was made, in ms
                        (none for missing:…, which only ever says "missing" until it ends)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .interface import BotSessions
from .problems import SharedStateDown
from .records import AuthKeyRecord, FileInfo, IndexEntry, SessionFields, UpdateStates

log = logging.getLogger("tgstream.store.redis")

PREFIX = "tgstream:"
# Seconds a command may take; a Redis that is down answers "refused" at once anyway.
TIMEOUT = 2.0
# Seconds between attempts to write again what could not be written.
RETRY_INTERVAL = 1.0
RETRY_AFTER = 5.0

# The bot session's fields and how each is read back (Kurigram's `sessions` columns).
SESSION_TYPES: dict[str, type] = {
    "dc_id": int,
    "api_id": int,
    "test_mode": bool,
    "auth_key": bytes,
    "date": int,
    "user_id": int,
    "is_bot": bool,
    "server_address": str,
    "port": int,
}

_T = TypeVar("_T")
# One write: the commands to run, made when it runs (a deadline may have passed by then).
Command = tuple[str | bytes | int, ...]
_Ops = Callable[[], list[Command]]

# Runs a write's commands unless a newer write to the same key came first.  KEYS[1] is the
# `written` hash; ARGV: the write's key there ("" for none), its stamp in ms, then each
# command as its length followed by its words.  Answers 1 if run, 0 if older.
_WRITE_IF_NEWER = """
local field, stamp = ARGV[1], tonumber(ARGV[2])
if field ~= "" then
  local last = tonumber(redis.call("HGET", KEYS[1], field) or "0")
  if last > stamp then return 0 end
  redis.call("HSET", KEYS[1], field, ARGV[2])
end
local i = 3
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return 1
"""


def _fixed(*commands: Command) -> _Ops:
    return lambda: list(commands)


def _now_ms() -> int:
    return int(time.time() * 1000)


def redacted(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


class RedisStore:
    def __init__(
        self, url: str, timeout: float = TIMEOUT, retry_interval: float = RETRY_INTERVAL
    ) -> None:
        self.url = url
        self.shared = True
        self.write_failures = 0
        self.retry_interval = retry_interval
        # No retries inside the client: a failed command is decided here, at once.
        self.client: Redis = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        # Redis key -> the write that failed there and when it was made, newest only, in the
        # order they failed.
        self.pending: dict[str, tuple[int, _Ops, bool]] = {}
        self._write_if_newer = self.client.register_script(_WRITE_IF_NEWER)
        self._flusher: asyncio.Task[None] | None = None
        self._available = True
        self._dc_map_size = 0
        # Each addition to `served` is kept apart while Redis is down: additions add up,
        # so none may stand in for another the way a newer write to a key does.
        self._additions = itertools.count()

    def describe(self) -> str:
        return redacted(self.url)

    @property
    def sessions(self) -> BotSessions:
        return self

    @property
    def available(self) -> bool:
        return self._available

    # --- reaching Redis -------------------------------------------------------------------

    def _down(self, exc: Exception) -> SharedStateDown:
        if self._available:
            log.warning(
                "shared state unavailable", extra={"state": self.describe(), "error": str(exc)}
            )
        self._available = False
        self._recover_soon()
        return SharedStateDown(self.describe(), str(exc) or type(exc).__name__, RETRY_AFTER)

    def _up(self) -> None:
        if not self._available:
            log.warning("shared state available again", extra={"state": self.describe()})
        self._available = True
        if self.pending:
            self._recover_soon()

    async def _read(self, command: Awaitable[_T]) -> _T:
        try:
            result = await command
        except (RedisError, OSError) as exc:
            raise self._down(exc) from None
        self._up()
        return result

    async def _execute(self, key: str, stamp: int, ops: _Ops, stamped: bool) -> bool:
        """Whether it was written (False: a newer write to `key` was there first)."""
        args: list[str | bytes | int] = [key if stamped else "", stamp]
        for command in ops():
            args += [len(command), *command]
        written = await self._write_if_newer(keys=[f"{PREFIX}written"], args=args)
        return bool(written)

    async def _write(self, key: str, ops: _Ops, stamped: bool = True) -> bool | None:
        """Write now; if Redis cannot take it, keep it (newest per key) for later.  None when
        kept, else whether it was newer than what was there."""
        stamp = _now_ms()
        try:
            written = await self._execute(key, stamp, ops, stamped)
        except (RedisError, OSError) as exc:
            self.write_failures += 1
            self._down(exc)
            self.pending.pop(key, None)  # to the end: the order writes failed in
            self.pending[key] = (stamp, ops, stamped)
            return None
        self.pending.pop(key, None)  # superseded
        self._up()
        return written

    def _recover_soon(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._recover())

    async def _recover(self) -> None:
        """Until Redis answers again and every write kept meanwhile is in: /status then says
        so without waiting for traffic."""
        while not self._available or self.pending:
            await asyncio.sleep(self.retry_interval)
            try:
                await self.client.ping()
            except (RedisError, OSError):
                continue
            if await self.flush():
                self._up()
        log.info("shared state up to date", extra={"state": self.describe()})

    async def flush(self) -> bool:
        """Write what is pending now, in the order it failed; whether nothing is left."""
        for key, kept in list(self.pending.items()):
            try:
                await self._execute(key, *kept)
            except (RedisError, OSError):
                return False
            if self.pending.get(key) is kept:
                del self.pending[key]
        return True

    async def has_state(self) -> bool:
        """Whether any tgstream key is there (a migration must find none)."""

        async def scan() -> bool:
            async for _ in self.client.scan_iter(match=f"{PREFIX}*", count=100):
                return True
            return False

        return await self._read(scan())

    async def close(self) -> None:
        if self.pending:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.flush(), TIMEOUT)
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(BaseException):
                await self._flusher
        await self.client.aclose()

    # --- auth keys ------------------------------------------------------------------------

    async def auth_key(self, bot_id: int, dc: int) -> AuthKeyRecord | None:
        value = await self._read(self.client.hget(f"{PREFIX}auth:{bot_id}", str(dc)))
        if not value:
            return None
        raw = _bytes(value)
        return AuthKeyRecord(bot_id, dc, raw[1:], raw[:1] == b"1")

    async def save_auth_key(self, record: AuthKeyRecord) -> None:
        key = f"{PREFIX}auth:{record.bot_id}"
        value = (b"1" if record.authorized else b"0") + record.auth_key
        await self._write(f"{key}/{record.dc}", _fixed(("HSET", key, record.dc, value)))

    async def drop_auth_key(self, bot_id: int, dc: int) -> None:
        key = f"{PREFIX}auth:{bot_id}"
        await self._write(f"{key}/{dc}", _fixed(("HDEL", key, dc)))

    # --- DC map ---------------------------------------------------------------------------

    async def dc_of(self, media_id: int) -> int | None:
        key = f"{PREFIX}dcmap"

        async def read() -> list[Any]:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hget(key, str(media_id))
                pipe.hlen(key)
                return list(await pipe.execute())

        value, size = await self._read(read())
        self._dc_map_size = int(size)
        return int(_text(value).split(":")[0]) if value else None

    async def set_dc(self, media_id: int, dc: int, learned: bool) -> None:
        key = f"{PREFIX}dcmap"
        value = f"{dc}:{int(learned)}"
        if await self._write(f"{key}/{media_id}", _fixed(("HSET", key, media_id, value))):
            with contextlib.suppress(RedisError, OSError):
                self._dc_map_size = int(await self.client.hlen(key))

    def dc_map_size(self) -> int:
        return self._dc_map_size

    # --- files ----------------------------------------------------------------------------

    async def file(self, message_id: int) -> tuple[FileInfo, float] | None:
        value = await self._read(self.client.get(f"{PREFIX}file:{message_id}"))
        if value is None:
            return None
        row = json.loads(value)
        reference = bytes.fromhex(row[3])
        info = FileInfo(row[0], row[1], row[2], reference, *row[4:11])
        if len(row) < 14:
            # Written before thumbnails were kept: not known yet, so the next use fetches the
            # message again (as if never confirmed), serving this record meanwhile.
            return info, 0.0
        return dataclasses.replace(info, thumb_type=row[12], thumb_length=row[13]), float(row[11])

    async def save_file(self, info: FileInfo, checked: float | None = None) -> None:
        key = f"{PREFIX}file:{info.message_id}"
        row = [
            info.message_id,
            info.media_id,
            info.access_hash,
            info.file_reference.hex(),
            info.dc,
            info.size,
            info.mime_type,
            info.file_name,
            info.kind,
            info.thumb_size,
            info.date,
            time.time() if checked is None else checked,
            info.thumb_type,
            info.thumb_length,
        ]
        value = json.dumps(row)
        await self._write(key, _fixed(("SET", key, value)))

    async def drop_file(self, message_id: int) -> None:
        key = f"{PREFIX}file:{message_id}"
        await self._write(key, _fixed(("DEL", key)))

    # --- ids Telegram called missing ------------------------------------------------------

    async def is_missing(self, message_id: int) -> bool:
        return bool(await self._read(self.client.exists(f"{PREFIX}missing:{message_id}")))

    async def remember_missing(self, message_id: int, ttl: float) -> None:
        key = f"{PREFIX}missing:{message_id}"
        until_ms = int((time.time() + ttl) * 1000)

        def ops() -> list[Command]:
            # Absolute: a write kept through an outage expires when it would have.
            return [("SET", key, 1, "PXAT", until_ms)] if until_ms > _now_ms() else []

        # Not stamped: it only ever says "missing" until it ends, and ids asked for at
        # random would each leave a stamp behind.
        await self._write(key, ops, stamped=False)

    # --- flood deadlines ------------------------------------------------------------------

    async def flood_deadlines(self) -> list[tuple[int, str, float]]:
        async def read() -> list[tuple[int, str, float]]:
            found = []
            async for key in self.client.scan_iter(match=f"{PREFIX}flood:*", count=100):
                value = await self.client.get(key)
                if value is None:
                    continue
                _, _, bot, method = _text(key).split(":", 3)
                found.append((int(bot), method, float(value)))
            return found

        now = time.time()
        return [row for row in await self._read(read()) if row[2] > now]

    async def flood_deadline(self, bot_id: int, method: str) -> float | None:
        value = await self._read(self.client.get(f"{PREFIX}flood:{bot_id}:{method}"))
        if value is None or float(value) <= time.time():
            return None
        return float(value)

    async def save_flood_deadline(self, bot_id: int, method: str, until: float) -> None:
        key = f"{PREFIX}flood:{bot_id}:{method}"

        def ops() -> list[Command]:
            # The newest FLOOD_WAIT on the account is Telegram's current word.
            if until <= time.time():
                return []
            return [("SET", key, repr(until), "PXAT", int(until * 1000))]

        await self._write(key, ops)

    # --- the owner's controls ----------------------------------------------------------------

    async def _member(self, name: str, value: int) -> bool:
        return bool(await self._read(self.client.sismember(f"{PREFIX}{name}", str(value))))

    async def _set_member(self, name: str, value: int, member: bool) -> None:
        key = f"{PREFIX}{name}"
        command: Command = ("SADD", key, value) if member else ("SREM", key, value)
        await self._write(f"{key}/{value}", _fixed(command))

    async def _members(self, name: str) -> list[int]:
        found = await self._read(self.client.smembers(f"{PREFIX}{name}"))
        return sorted(int(_text(v)) for v in found)

    async def is_revoked(self, message_id: int) -> bool:
        return await self._member("revoked", message_id)

    async def set_revoked(self, message_id: int, revoked: bool) -> None:
        await self._set_member("revoked", message_id, revoked)

    async def revoked_ids(self) -> list[int]:
        return await self._members("revoked")

    async def is_banned(self, user_id: int) -> bool:
        return await self._member("banned", user_id)

    async def set_banned(self, user_id: int, banned: bool) -> None:
        await self._set_member("banned", user_id, banned)

    async def banned_users(self) -> list[int]:
        return await self._members("banned")

    async def copy_of(self, chat_id: int, message_id: int) -> int | None:
        value = await self._read(self.client.hget(f"{PREFIX}copies", f"{chat_id}:{message_id}"))
        return int(_text(value)) if value else None

    async def save_copy(self, chat_id: int, message_id: int, copy_id: int) -> None:
        key = f"{PREFIX}copies"
        field = f"{chat_id}:{message_id}"
        await self._write(f"{key}/{field}", _fixed(("HSET", key, field, copy_id)))

    # --- the file index ---------------------------------------------------------------------

    async def index_months(self) -> list[str]:
        months = await self._read(self.client.hvals(f"{PREFIX}index:where"))
        return sorted({_text(m) for m in months})

    async def index_month(self, month: str) -> list[IndexEntry]:
        found = await self._read(self.client.hgetall(f"{PREFIX}index:{month}"))
        entries = [IndexEntry(*json.loads(value)) for value in found.values()]
        return sorted(entries, key=lambda e: e.message_id)

    async def save_index_entry(self, entry: IndexEntry) -> None:
        row = [
            entry.message_id,
            entry.media_id,
            entry.file_name,
            entry.size,
            entry.mime_type,
            entry.modified,
            entry.posted,
        ]
        where = f"{PREFIX}index:where"
        commands: list[Command] = [
            ("HSET", f"{PREFIX}index:{entry.month}", entry.message_id, json.dumps(row)),
            ("HSET", where, entry.message_id, entry.month),
        ]
        await self._write(f"{PREFIX}index/{entry.message_id}", _fixed(*commands))

    async def drop_index_entry(self, message_id: int) -> None:
        where = f"{PREFIX}index:where"
        month = await self._read(self.client.hget(where, str(message_id)))
        if month is None:
            return
        commands: list[Command] = [
            ("HDEL", f"{PREFIX}index:{_text(month)}", message_id),
            ("HDEL", where, message_id),
        ]
        await self._write(f"{PREFIX}index/{message_id}", _fixed(*commands))

    # --- media probes -----------------------------------------------------------------------

    async def media_probe(self, media_id: int) -> str | None:
        value = await self._read(self.client.get(f"{PREFIX}probe:{media_id}"))
        return None if value is None else _text(value)

    async def save_media_probe(self, media_id: int, probe: str) -> None:
        key = f"{PREFIX}probe:{media_id}"
        await self._write(key, _fixed(("SET", key, probe)))

    # --- streams served by DC -------------------------------------------------------------

    async def dc_served(self) -> dict[int, int]:
        found = await self._read(self.client.hgetall(f"{PREFIX}served"))
        return {int(_text(dc)): int(_text(n)) for dc, n in sorted(found.items())}

    async def add_dc_served(self, counts: dict[int, int]) -> None:
        key = f"{PREFIX}served"
        for dc, served in counts.items():
            if served > 0:
                addition = f"{key}/{dc}/{next(self._additions)}"
                await self._write(addition, _fixed(("HINCRBY", key, dc, served)), stamped=False)

    # --- each bot's own session and update state ------------------------------------------

    async def bot_session(self, bot_id: int) -> SessionFields:
        raw = await self._read(self.client.hgetall(f"{PREFIX}session:{bot_id}"))
        fields: SessionFields = {}
        for name, value in raw.items():
            kind = SESSION_TYPES.get(_text(name))
            if kind is None:
                continue
            if kind is bytes:
                fields[_text(name)] = _bytes(value)
            elif kind is bool:
                fields[_text(name)] = value == b"1"
            else:
                fields[_text(name)] = kind(_text(value))
        return fields

    async def save_bot_session(self, bot_id: int, fields: SessionFields) -> None:
        key = f"{PREFIX}session:{bot_id}"
        for name, value in fields.items():
            if name not in SESSION_TYPES:
                raise ValueError(f"not a session field: {name}")

            command: Command
            if value is None:
                command = ("HDEL", key, name)
            elif isinstance(value, bool):
                command = ("HSET", key, name, b"1" if value else b"0")
            else:
                command = ("HSET", key, name, value)
            await self._write(f"{key}/{name}", _fixed(command))

    async def update_states(self, bot_id: int) -> UpdateStates:
        raw = await self._read(self.client.hgetall(f"{PREFIX}updates:{bot_id}"))
        states: UpdateStates = {}
        for state_id, value in raw.items():
            pts, qts, date, seq = json.loads(value)
            states[int(state_id)] = (pts, qts, date, seq)
        return states

    async def save_update_states(self, bot_id: int, states: UpdateStates) -> None:
        key = f"{PREFIX}updates:{bot_id}"
        for state_id, state in states.items():
            command = ("HSET", key, state_id, json.dumps(list(state)))
            await self._write(f"{key}/{state_id}", _fixed(command))

    async def drop_update_states(self, bot_id: int, ids: list[int]) -> None:
        key = f"{PREFIX}updates:{bot_id}"
        for state_id in ids:
            await self._write(f"{key}/{state_id}", _fixed(("HDEL", key, state_id)))
