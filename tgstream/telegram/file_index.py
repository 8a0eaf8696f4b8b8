"""The file index of the bin channel (what the WebDAV view lists): a file is added as it
arrives (`record`, from the bot's handlers), and `backfill` walks the channel's existing
messages once to add what was there before, or what the bot missed while it was down.

Both describe a file exactly as the resolver does (file_info_from_message), so the index
gives the same name, size and ETag as /dl.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pyrogram import raw

from ..store import IndexEntry, StateStore
from . import calls
from .bin_channel import get_messages
from .bots import BotClient
from .channel_walk import GAP, ChannelWalk
from .errors import FileGone, TelegramUnavailable
from .flood import FloodPolicy
from .metadata import file_info_from_message
from .policy import GET_MESSAGES
from .resolver import FileResolver

log = logging.getLogger("tgstream.telegram.file_index")

# Rounds of waiting for a bot that may ask, and the longest wait of one, before giving up.
_PATIENCE = 10
_LONGEST_WAIT = 300.0


async def record(resolver: FileResolver, store: StateStore, message_id: int, posted: int) -> None:
    """Index the file of bin-channel message `message_id`, posted at `posted` (unix time):
    resolved as a link to it would be (one message fetch, which also warms the resolver
    for its first viewer)."""
    info = await resolver.get(message_id)
    await store.save_index_entry(IndexEntry.of(info, posted))


@dataclass
class BackfillReport:
    scanned: int = 0  # ids asked for
    messages: int = 0  # ids that held a message
    files: int = 0  # messages that held a file
    added: int = 0  # files the index did not have
    removed: int = 0  # indexed files whose message is gone
    last_id: int = 0  # the newest message id seen

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


async def backfill(
    bots: Sequence[BotClient],
    bin_channel: int,
    store: StateStore,
    flood: FloodPolicy,
    gap: int = GAP,
) -> BackfillReport:
    """Walk the bin channel once (channel_walk.py says how far) and index every file in it;
    idempotent: a second run adds nothing."""
    indexed: dict[int, IndexEntry] = {}
    for month in await store.index_months():
        for entry in await store.index_month(month):
            indexed[entry.message_id] = entry
    walk = ChannelWalk(known_last=max(indexed, default=0), gap=gap)
    report = BackfillReport()
    channels: dict[int, Any] = {}
    while not walk.done:
        ids = walk.batch()
        messages = await _fetch(bots, bin_channel, flood, channels, ids)
        present = {m.id: m for m in messages if not isinstance(m, raw.types.MessageEmpty)}
        walk.saw(ids, present)
        report.scanned += len(ids)
        report.messages += len(present)
        for message_id in ids:
            message = present.get(message_id)
            if message is None:
                if message_id in indexed:
                    await store.drop_index_entry(message_id)
                    report.removed += 1
                continue
            try:
                info = file_info_from_message(message_id, message)
            except FileGone:
                continue  # a text, a service message, a photo with no size
            report.files += 1
            entry = IndexEntry.of(info, int(getattr(message, "date", 0) or info.date))
            if indexed.get(message_id) != entry:
                report.added += message_id not in indexed
                await store.save_index_entry(entry)
    report.last_id = walk.last_seen
    log.info("index backfill done", extra=report.as_dict())
    return report


async def _fetch(
    bots: Sequence[BotClient],
    bin_channel: int,
    flood: FloodPolicy,
    channels: dict[int, Any],
    ids: list[int],
) -> list[Any]:
    """One batch of the channel's messages through the failure policy: another bot takes
    over when one is benched or cannot read the channel, and when none can, the walk (which
    is nobody's HTTP request) waits and asks again, a few times, before it gives up."""
    for _ in range(_PATIENCE):
        ready = [b for b in bots if b.ready]
        ready.sort(key=lambda b: (flood.blocked_for(b.bot_id, GET_MESSAGES), b.index))
        last = TelegramUnavailable("no bot is signed in yet", 5)
        for bot in ready:
            try:
                result = await calls.call(
                    GET_MESSAGES,
                    bot.bot_id,
                    lambda: get_messages(bot, bin_channel, channels, ids),  # noqa: B023
                    flood,
                )
            except TelegramUnavailable as exc:
                last = exc
                continue
            return list(result.messages)
        wait = min(max(1.0, float(last.retry_after)), _LONGEST_WAIT)
        log.warning("index backfill waits", extra={"seconds": wait, "error": str(last)})
        await asyncio.sleep(wait)
    raise last
