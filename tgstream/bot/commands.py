"""The bot's commands beyond /start: /link for everyone allowed, and the owners' /revoke,
/unrevoke, /ban, /unban, /users and /stats.  Each runs once per message, under the reply
marks like every other answer (handlers.py registers them)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from urllib.parse import unquote, urlsplit

from pyrogram import Client
from pyrogram.types import Message

from .. import links
from ..config import Settings
from ..metrics import Metrics
from ..store import StateStore
from ..store.revocations import Revocations
from .media import MediaFacts
from .replies import (
    NO_TARGET,
    ban_text,
    links_text_ending,
    revoked_text,
    stats_text,
    users_text,
)

log = logging.getLogger("tgstream.bot.commands")

_URL = re.compile(r"https?://\S+")
Reply = Callable[[str], Awaitable[object]]


def argument(message: Message) -> str:
    """What follows the command word, stripped ("" for none)."""
    text = message.text or ""
    return text.split(maxsplit=1)[1].strip() if len(text.split(maxsplit=1)) > 1 else ""


def urls_in(message: Message) -> list[str]:
    """The URLs of a message: in its text and in its buttons."""
    found = _URL.findall(message.text or message.caption or "")
    markup = message.reply_markup
    for row in getattr(markup, "inline_keyboard", None) or []:
        found += [button.url for button in row if getattr(button, "url", None)]
    return found


def name_in(url: str) -> str:
    """The cosmetic file name segment of one of our links."""
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or "file"


class Commands:
    def __init__(
        self,
        settings: Settings,
        store: StateStore,
        revocations: Revocations,
        metrics: Metrics,
        media_facts: Callable[[Message], MediaFacts | None],
    ) -> None:
        self.settings = settings
        self.secret = settings.secret.get_secret_value()
        self.store = store
        self.revocations = revocations
        self.metrics = metrics
        self.media_facts = media_facts

    async def target(self, client: Client, message: Message) -> tuple[int, str, int] | None:
        """(bin-channel message id, file name, size) of the file the message replies to:
        a file the user sent (found by the copy made of it), or links this bot sent (a
        message of anyone else's is never trusted for its URLs)."""
        reply = message.reply_to_message
        if reply is None:
            return None
        me = getattr(client, "me", None)
        sender = reply.from_user
        if me is not None and sender is not None and sender.id == me.id:
            for url in urls_in(reply):
                found = links.message_of(url, self.secret)
                if found is not None:
                    info = await self.store.file(found)
                    size = info[0].size if info else 0
                    return found, name_in(url), size
            return None
        facts = self.media_facts(reply)
        if facts is None:
            return None
        copy = await self.store.copy_of(message.chat.id, reply.id)
        return None if copy is None else (copy, facts.name_in_bin(copy), facts.size)

    async def on_link(
        self, client: Client, message: Message, reply: Reply, reply_html: Reply
    ) -> None:
        text = argument(message)
        try:
            ttl = links.parse_duration(text) if text else self.settings.link_ttl
        except ValueError as exc:
            await reply(f"{exc}.")
            return
        found = await self.target(client, message)
        if found is None:
            await reply(NO_TARGET)
            return
        message_id, name, size = found
        expires = None if ttl is None else int(time.time()) + ttl
        base = self.settings.public_url
        # The Download link saves (attachment), as the bot's first answer's does.
        download = (
            links.public_url(base, links.download_path(message_id, name, self.secret, expires))
            + "&download=1"
        )
        watch = links.public_url(base, links.watch_path(message_id, name, self.secret, expires))
        await reply_html(links_text_ending(name, size, download, watch, expires))

    async def on_revoke(
        self, client: Client, message: Message, reply: Reply, revoked: bool
    ) -> None:
        text = argument(message)
        if text:
            if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**31:
                await reply("Please give a message id (digits), or reply to a file or its links.")
                return
            message_id = int(text)
        else:
            found = await self.target(client, message)
            if found is None:
                await reply(NO_TARGET)
                return
            message_id = found[0]
        await self.revocations.set(message_id, revoked)
        log.info("links revoked" if revoked else "links restored", extra={"message_id": message_id})
        await reply(revoked_text(message_id, revoked))

    async def on_ban(self, message: Message, reply: Reply, banned: bool) -> None:
        text = argument(message)
        if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**63:
            await reply(f"Usage: /{'ban' if banned else 'unban'} USER_ID (digits)")
            return
        user_id = int(text)
        if banned and user_id in self.settings.owners:
            await reply("Owners cannot be banned.")
            return
        await self.store.set_banned(user_id, banned)
        log.info("user banned" if banned else "user unbanned", extra={"user_id": user_id})
        await reply(ban_text(user_id, banned))

    async def on_users(self, reply: Reply) -> None:
        banned = await self.store.banned_users()
        await reply(users_text(self.settings.allowed_users, self.settings.owners, banned))

    async def on_stats(self, reply: Reply) -> None:
        # The numbers /metrics and /status already show, read from the same registry.
        totals: dict[str, float] = {}
        for metric in self.metrics.registry.collect():
            for found in metric.samples:
                totals[found.name] = totals.get(found.name, 0.0) + found.value

        def sample(name: str) -> int:
            return round(totals.get(name, 0.0))  # summed over labels (flood waits by method)

        await reply(
            stats_text(
                files=sample("tgstream_files_resolved"),
                bytes_served=sample("tgstream_bytes_served_total"),
                active_streams=sample("tgstream_active_streams"),
                flood_waits=sample("tgstream_flood_waits_total"),
                revoked=len(await self.store.revoked_ids()),
            )
        )
