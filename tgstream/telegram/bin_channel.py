"""Reading the bin channel's messages as one bot: the channel named as that bot may name it,
and channels.getMessages (which bots may call; messages.getHistory they may not)."""

from __future__ import annotations

from typing import Any

from pyrogram import errors, raw

from .bots import BotClient

# Seconds one call may take (the HTTP deadline bounds the whole request anyway).
CALL_TIMEOUT = 10.0


async def input_channel(bot: BotClient, bin_channel: int, known: dict[int, Any]) -> Any:
    """The bin channel as this bot may name it (each account sees its own access_hash),
    remembered per bot in `known`.  Asked of Telegram directly (a bot may use access_hash 0
    for that), not through Kurigram's resolve_peer, which only answers from what it managed
    to save to disk."""
    channel = known.get(bot.bot_id)
    if channel is None:
        bare = -bin_channel - 1_000_000_000_000
        result = await bot.client.invoke(
            raw.functions.channels.GetChannels(
                id=[raw.types.InputChannel(channel_id=bare, access_hash=0)]
            ),
            retries=1,
            timeout=CALL_TIMEOUT,
            sleep_threshold=0,
        )
        found = [c for c in result.chats if isinstance(c, raw.types.Channel)]
        if not found:
            raise errors.ChannelPrivate()
        channel = raw.types.InputChannel(channel_id=found[0].id, access_hash=found[0].access_hash)
        known[bot.bot_id] = channel
    return channel


async def get_messages(
    bot: BotClient, bin_channel: int, known: dict[int, Any], ids: list[int]
) -> Any:
    """One channels.getMessages call for `ids`, retried by the caller's policy, not here."""
    return await bot.client.invoke(
        raw.functions.channels.GetMessages(
            channel=await input_channel(bot, bin_channel, known),
            id=[raw.types.InputMessageID(id=i) for i in ids],
        ),
        retries=1,
        timeout=CALL_TIMEOUT,
        sleep_threshold=0,
    )
