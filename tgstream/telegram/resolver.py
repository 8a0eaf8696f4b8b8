"""Bin-channel message id -> the file it holds, cached in memory and in the store.

A record is trusted for FILE_RECHECK seconds after Telegram last confirmed it; after that
(and after any file error) the message is fetched again, so a deleted message stops
streaming within that time, restarts included.  Fetches are single-flight per message, any
signed-in bot that can read the bin channel makes them (a flooded or removed bot is left
out), and ids Telegram reports missing are remembered for a while, so a leaked link to a
deleted file costs no Telegram call per request.  FILE_REFERENCE_EXPIRED is answered by
`refresh`: the message is fetched again (once, however many streams asked).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pyrogram import raw

from ..store import FileInfo, StateStore
from . import calls
from .bin_channel import get_messages
from .bots import BotClient
from .errors import FileGone, TelegramUnavailable, UpstreamRejected
from .flood import FloodPolicy
from .metadata import file_info_from_message
from .policy import CHANNEL_ERRORS, GET_MESSAGES, Outcome

log = logging.getLogger("tgstream.telegram.resolver")

# How long an id Telegram called missing is answered 404 without asking again.
MISSING_TTL = 60.0
_MISSING_MAX = 10_000


@dataclass(frozen=True, slots=True)
class _Entry:
    info: FileInfo
    checked: float  # wall-clock time Telegram last confirmed the message


class FileResolver:
    def __init__(
        self,
        bots: Sequence[BotClient],
        bin_channel: int,
        store: StateStore,
        flood: FloodPolicy,
        recheck_seconds: float = 600.0,
    ) -> None:
        self.bots = list(bots)
        self.bin_channel = bin_channel
        self.store = store
        self.flood = flood
        self.recheck_seconds = recheck_seconds
        self.cache: dict[int, _Entry] = {}
        self._fetching: dict[int, asyncio.Task[FileInfo]] = {}
        self._channels: dict[int, Any] = {}
        self._missing: OrderedDict[int, float] = OrderedDict()
        # bot_id -> why it cannot read the bin channel (shown in /status).
        self.channel_problems: dict[int, str] = {}
        # Called with a media id whose cached bytes must go (file deleted or replaced).
        self.on_forget: Callable[[int], None] = lambda media_id: None
        self.refreshes = 0
        self.rechecks = 0
        self.fetches = 0
        self.missing_hits = 0

    async def get(self, message_id: int) -> FileInfo:
        if self._known_missing(message_id):
            self.missing_hits += 1
            raise FileGone(f"message {message_id} not found in the bin channel")
        entry = self.cache.get(message_id)
        if entry is None:
            # Memory first: what this process resolved keeps serving while a shared store
            # is down (SharedStateDown from here is a 503 for a link never resolved here).
            if await self.store.is_missing(message_id):
                self.missing_hits += 1
                self._note_missing(message_id)
                raise FileGone(f"message {message_id} not found in the bin channel")
            stored = await self.store.file(message_id)
            if stored is not None:
                entry = self.cache[message_id] = _Entry(*stored)
        if entry is None:
            return await self._fetch_once(message_id)
        if time.time() - entry.checked >= self.recheck_seconds:
            self.rechecks += 1
            try:
                return await self._fetch_once(message_id)
            except (TelegramUnavailable, UpstreamRejected) as exc:
                # Not knowing is no reason to refuse a viewer: the record stays until
                # Telegram can answer.
                log.info("recheck postponed", extra={"message_id": message_id, "why": str(exc)})
        return entry.info

    async def refresh(self, message_id: int, stale: FileInfo) -> FileInfo:
        """A new file_reference for this message, fetched once for all who ask."""
        current = self.cache.get(message_id)
        if current is not None and current.info.file_reference != stale.file_reference:
            return current.info  # someone else already refreshed it
        self.refreshes += 1
        return await self._fetch_once(message_id)

    async def recheck(self, message_id: int) -> FileInfo:
        """After a file error: the message as Telegram has it now (FileGone if deleted)."""
        self.rechecks += 1
        return await self._fetch_once(message_id)

    async def correct_size(self, info: FileInfo, real_size: int) -> FileInfo:
        """Telegram's data ends before the declared size: the real size from now on."""
        entry = self.cache.get(info.message_id)
        if entry is not None and entry.info.size <= real_size:
            return entry.info
        log.warning(
            "file shorter than declared",
            extra={"message_id": info.message_id, "declared": info.size, "real": real_size},
        )
        fixed = dataclasses.replace(info, size=real_size)
        checked = entry.checked if entry is not None else time.time()
        await self.store.save_file(fixed, checked)
        self.cache[info.message_id] = _Entry(fixed, checked)
        return fixed

    async def forget(self, info: FileInfo) -> None:
        """The file is gone for good: no record, no cached bytes, 404 for a while."""
        self.cache.pop(info.message_id, None)
        await self.store.drop_file(info.message_id)
        await self._remember_missing(info.message_id)
        self.on_forget(info.media_id)

    # --- negative cache -------------------------------------------------------------------

    def _known_missing(self, message_id: int) -> bool:
        until = self._missing.get(message_id)
        if until is None:
            return False
        if until <= time.monotonic():
            del self._missing[message_id]
            return False
        return True

    async def _remember_missing(self, message_id: int) -> None:
        self._note_missing(message_id)
        await self.store.remember_missing(message_id, MISSING_TTL)

    def _note_missing(self, message_id: int) -> None:
        self._missing[message_id] = time.monotonic() + MISSING_TTL
        self._missing.move_to_end(message_id)
        while len(self._missing) > _MISSING_MAX:
            self._missing.popitem(last=False)

    # --- fetching -------------------------------------------------------------------------

    async def _fetch_once(self, message_id: int) -> FileInfo:
        task = self._fetching.get(message_id)
        if task is None:
            task = asyncio.create_task(self._fetch(message_id))
            self._fetching[message_id] = task
            task.add_done_callback(lambda _: self._fetching.pop(message_id, None))
        return await asyncio.shield(task)

    def _candidates(self) -> list[BotClient]:
        """Signed-in bots free to call channels.getMessages, least benched first."""
        ready = [b for b in self.bots if b.ready]
        return sorted(
            ready, key=lambda b: (self.flood.blocked_for(b.bot_id, GET_MESSAGES), b.index)
        )

    async def _fetch(self, message_id: int) -> FileInfo:
        candidates = self._candidates()
        if not candidates:
            raise TelegramUnavailable(
                "no bot is signed in yet: " + "; ".join(b.state for b in self.bots),
                min((b.retry_after for b in self.bots), default=5),
            )
        last: TelegramUnavailable | None = None
        for position, bot in enumerate(candidates):
            others = candidates[position + 1 :]
            # The closures are only called while this iteration awaits the call.
            try:
                result = await calls.call(
                    GET_MESSAGES,
                    bot.bot_id,
                    lambda: self._get_message(bot, message_id),  # noqa: B023
                    self.flood,
                    other_bot=lambda: any(
                        self.flood.blocked_for(o.bot_id, GET_MESSAGES) <= 0
                        for o in others  # noqa: B023
                    ),
                    observe=lambda outcome, decision: self._observe(bot, outcome),  # noqa: B023
                )
            except calls.FailOver as exc:
                last = exc
                continue
            self._channel_ok(bot)
            return await self._found(message_id, result)
        assert last is not None
        raise TelegramUnavailable(str(last), last.retry_after)

    async def _get_message(self, bot: BotClient, message_id: int) -> Any:
        return await get_messages(bot, self.bin_channel, self._channels, [message_id])

    async def _found(self, message_id: int, result: Any) -> FileInfo:
        messages = [m for m in result.messages if isinstance(m, raw.types.Message)]
        previous = self.cache.get(message_id)
        if not messages:
            # Deleted (messageEmpty) or never there.
            if previous is not None:
                log.info("message deleted", extra={"message_id": message_id})
                await self.forget(previous.info)
            else:
                await self.store.drop_file(message_id)
                await self._remember_missing(message_id)
            raise FileGone(f"message {message_id} not found in the bin channel")
        try:
            info = file_info_from_message(message_id, messages[0])
        except FileGone:
            if previous is not None:
                await self.forget(previous.info)
            else:
                await self._remember_missing(message_id)
            raise
        if previous is not None and previous.info.media_id != info.media_id:
            self.on_forget(previous.info.media_id)  # the message now holds another file
        self.fetches += 1
        checked = time.time()
        await self.store.save_file(info, checked)
        self.cache[message_id] = _Entry(info, checked)
        return info

    # --- the bin channel's readers ----------------------------------------------------------

    def _observe(self, bot: BotClient, outcome: Outcome) -> None:
        if outcome.name not in CHANNEL_ERRORS:
            return
        self._channels.pop(bot.bot_id, None)
        if bot.bot_id not in self.channel_problems:
            log.error(
                "bot cannot read the bin channel; make it an admin there",
                extra={"bot_id": bot.bot_id, "channel": self.bin_channel, "error": outcome.name},
            )
        self.channel_problems[bot.bot_id] = outcome.name

    def _channel_ok(self, bot: BotClient) -> None:
        if self.channel_problems.pop(bot.bot_id, None) is not None:
            log.warning("bot reads the bin channel again", extra={"bot_id": bot.bot_id})

    def snapshot(self) -> dict[str, Any]:
        return {
            "files_resolved": len(self.cache),
            "message_fetches": self.fetches,
            "rechecks": self.rechecks,
            "file_reference_refreshes": self.refreshes,
            "missing_cached": len(self._missing),
            "missing_hits": self.missing_hits,
            "recheck_seconds": self.recheck_seconds,
            "bin_channel_unreadable_by": {
                str(bot_id): error for bot_id, error in self.channel_problems.items()
            },
        }
