"""Kurigram handlers of the main bot."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pyrogram import Client, enums, errors, filters
from pyrogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
)

from .. import links
from ..config import Settings
from .replies import HELP, REFUSED, UNSUPPORTED, links_text

log = logging.getLogger("tgstream.bot")

_T = TypeVar("_T")
_MEDIA = ("document", "video", "audio", "voice", "animation", "photo")
_FLOOD_RETRIES = 5


async def patiently(call: Callable[[], Awaitable[_T]]) -> _T:
    """Run a Telegram call, waiting out every FLOOD_WAIT (Kurigram sleeps only short ones)."""
    for _ in range(_FLOOD_RETRIES):
        try:
            return await call()
        except errors.FloodWait as exc:
            seconds = float(exc.value or 1)
            log.warning("flood wait in the bot", extra={"seconds": seconds})
            await asyncio.sleep(seconds)
    return await call()


def media_facts(message: Message) -> tuple[str, int] | None:
    """(file name, size) of the message's file, or None when it carries none."""
    for kind in _MEDIA:
        media = getattr(message, kind, None)
        if media is None:
            continue
        if kind == "photo":
            return f"photo-{message.id}.jpg", int(media.file_size or 0)
        name = getattr(media, "file_name", None) or f"{kind}-{message.id}"
        return str(name), int(media.file_size or 0)
    return None


class BotHandlers:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.secret = settings.secret.get_secret_value()

    def links_for(self, message_id: int, file_name: str) -> tuple[str, str]:
        base = self.settings.public_url
        return (
            links.public_url(base, links.download_path(message_id, file_name, self.secret)),
            links.public_url(base, links.watch_path(message_id, file_name, self.secret)),
        )

    def markup(self, download: str, watch: str) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton("Download", url=download),
                    InlineKeyboardButton("Watch", url=watch),
                ]
            ]
        )

    def allowed(self, message: Message) -> bool:
        users = self.settings.allowed_users
        return not users or (message.from_user is not None and message.from_user.id in users)

    async def on_start(self, client: Client, message: Message) -> None:
        # A stranger told "send me a file" would only be refused on the next message.
        text = HELP if self.allowed(message) else REFUSED
        await patiently(lambda: message.reply_text(text))

    async def on_private_file(self, client: Client, message: Message) -> None:
        if not self.allowed(message):
            await patiently(lambda: message.reply_text(REFUSED))
            return
        facts = media_facts(message)
        if facts is None:
            await patiently(lambda: message.reply_text(UNSUPPORTED))
            return
        name, size = facts
        # Copy once: a retry after a flood wait must not post the file twice, so only the
        # call that failed is repeated.
        copy = await patiently(lambda: message.copy(self.settings.bin_channel))
        download, watch = self.links_for(copy.id, name)
        await patiently(
            lambda: message.reply_text(
                links_text(name, size, download, watch),
                parse_mode=enums.ParseMode.HTML,
                reply_markup=self.markup(download, watch),
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        log.info("file stored", extra={"message_id": copy.id, "size": size})

    async def on_other_private(self, client: Client, message: Message) -> None:
        if not self.allowed(message):
            await patiently(lambda: message.reply_text(REFUSED))
            return
        await patiently(lambda: message.reply_text(UNSUPPORTED))

    async def on_channel_post(self, client: Client, message: Message) -> None:
        facts = media_facts(message)
        if facts is None or message.reply_markup is not None:
            return
        name, _ = facts
        download, watch = self.links_for(message.id, name)
        await patiently(lambda: message.edit_reply_markup(self.markup(download, watch)))

    def register(self, client: Client) -> None:
        media = filters.document | filters.video | filters.audio | filters.voice
        media = media | filters.animation | filters.photo
        client.on_message(filters.private & filters.command(["start", "help"]))(self.on_start)
        client.on_message(filters.private & media)(self.on_private_file)
        client.on_message(filters.private & ~media & ~filters.command(["start", "help"]))(
            self.on_other_private
        )
        client.on_message(filters.channel & filters.chat(self.settings.bin_channel) & media)(
            self.on_channel_post
        )


def attach(client: Client, settings: Settings) -> Any:
    handlers = BotHandlers(settings)
    handlers.register(client)
    return handlers
