"""Kurigram handlers of the main bot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pyrogram import Client, enums, filters
from pyrogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
)

from .. import links
from ..config import Settings
from ..store.reply_marks import DONE, SKIP, ReplyMarks, copied, copied_id
from ..telegram.metadata import file_name_of
from ..telegram.outcomes import attempt
from ..telegram.policy import SEND_MEDIA, SEND_MESSAGE, Action, Outcome, Situation, decide
from .replies import HELP, REFUSED, STORE_FAILED, UNSUPPORTED, links_text

log = logging.getLogger("tgstream.bot")

_T = TypeVar("_T")
_MEDIA = ("document", "video", "audio", "voice", "animation", "photo")
EDIT_MESSAGE = "messages.editMessage"
# A reply is background work nobody's HTTP request waits on: the bot waits out flood waits
# up to this long (a user gets a late answer rather than none), longer ones drop it.
REPLY_PATIENCE = 300.0


class Undelivered(Exception):
    """A reply or copy the policy gave up on (logged where it was decided)."""


class FencedOff(Exception):
    """This replica lost the lease while answering: the next leader finishes the answer."""


async def patiently(call: Callable[[], Awaitable[_T]], method: str = SEND_MESSAGE) -> _T:
    """Run one of the bot's own calls under the failure policy: waits and transient
    failures are waited out, anything else gives up with one log line."""
    failures = 0
    while True:
        outcome = await attempt(call)
        if not isinstance(outcome, Outcome):
            return outcome
        failures += 1
        decision = decide(method, outcome, Situation(REPLY_PATIENCE, attempt=failures))
        log.warning(
            "bot call failed",
            extra={
                "method": method,
                "error": f"{outcome.code} {outcome.message}",
                "action": decision.action.value,
                "seconds": decision.seconds or None,
            },
        )
        if decision.action not in (Action.SLEEP, Action.RETRY):
            raise Undelivered(f"{method}: {decision.reason}")
        await asyncio.sleep(decision.seconds)


@dataclass(frozen=True)
class MediaFacts:
    given_name: str | None
    mime_type: str | None
    size: int
    photo: bool

    def name_in_bin(self, bin_message_id: int) -> str:
        """The file's name as its bin-channel message is named everywhere (metadata.py)."""
        return file_name_of(bin_message_id, self.given_name, self.mime_type, photo=self.photo)


def media_facts(message: Message) -> MediaFacts | None:
    """What the bot says of the message's file, or None when it carries none."""
    for kind in _MEDIA:
        media = getattr(message, kind, None)
        if media is None:
            continue
        return MediaFacts(
            getattr(media, "file_name", None),
            getattr(media, "mime_type", None),
            int(media.file_size or 0),
            photo=kind == "photo",
        )
    return None


class BotHandlers:
    """Each message is answered once: its mark is claimed before anything is sent, and each
    step recorded (reply_marks.py), so an update replayed by a take-over, or by Kurigram's
    own gap recovery, is not answered again and a file is not copied twice."""

    def __init__(
        self, settings: Settings, marks: ReplyMarks, fence: Callable[[], int | None]
    ) -> None:
        self.settings = settings
        self.secret = settings.secret.get_secret_value()
        self.marks = marks
        self.fence = fence

    async def claim(self, message: Message) -> str:
        fence = self.fence()
        if fence is None:
            return SKIP  # standing by now: the leader answers
        return await self.marks.claim(message.chat.id, message.id, fence)

    async def advance(self, message: Message, step: str) -> None:
        fence = self.fence()
        if fence is None or not await self.marks.advance(message.chat.id, message.id, fence, step):
            log.warning("lease lost while answering", extra={"message_id": message.id})
            raise FencedOff

    def links_for(self, message_id: int, file_name: str) -> tuple[str, str]:
        base = self.settings.public_url
        # The Download button saves (attachment); the watch page plays.
        return (
            links.public_url(base, links.download_path(message_id, file_name, self.secret))
            + "&download=1",
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

    async def on_start(self, client: Client, message: Message, step: str) -> None:
        # A stranger told "send me a file" would only be refused on the next message.
        text = HELP if self.allowed(message) else REFUSED
        await patiently(lambda: message.reply_text(text))

    async def on_private_file(self, client: Client, message: Message, step: str) -> None:
        if not self.allowed(message):
            await patiently(lambda: message.reply_text(REFUSED))
            return
        facts = media_facts(message)
        if facts is None:
            await patiently(lambda: message.reply_text(UNSUPPORTED))
            return
        copy_id = copied_id(step)
        if copy_id is None:
            # Copy once: a retry after a flood wait must not post the file twice, so only
            # the call that failed is repeated; and once done, the copy is recorded.
            try:
                copy = await patiently(lambda: message.copy(self.settings.bin_channel), SEND_MEDIA)
            except Undelivered:
                await patiently(lambda: message.reply_text(STORE_FAILED))
                return
            copy_id = copy.id
            await self.advance(message, copied(copy_id))
        name, size = facts.name_in_bin(copy_id), facts.size
        download, watch = self.links_for(copy_id, name)
        await patiently(
            lambda: message.reply_text(
                links_text(name, size, download, watch),
                parse_mode=enums.ParseMode.HTML,
                reply_markup=self.markup(download, watch),
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        log.info("file stored", extra={"message_id": copy_id, "size": size})

    async def on_other_private(self, client: Client, message: Message, step: str) -> None:
        if not self.allowed(message):
            await patiently(lambda: message.reply_text(REFUSED))
            return
        await patiently(lambda: message.reply_text(UNSUPPORTED))

    async def on_channel_post(self, client: Client, message: Message, step: str) -> None:
        facts = media_facts(message)
        if facts is None or message.reply_markup is not None:
            return
        download, watch = self.links_for(message.id, facts.name_in_bin(message.id))
        await patiently(
            lambda: message.edit_reply_markup(self.markup(download, watch)), EDIT_MESSAGE
        )

    def register(self, client: Client) -> None:
        media = filters.document | filters.video | filters.audio | filters.voice
        media = media | filters.animation | filters.photo
        commands = filters.command(["start", "help"])
        client.on_message(filters.private & commands)(self.once(self.on_start))
        client.on_message(filters.private & media)(self.once(self.on_private_file))
        client.on_message(filters.private & ~media & ~commands)(self.once(self.on_other_private))
        client.on_message(filters.channel & filters.chat(self.settings.bin_channel) & media)(
            self.once(self.on_channel_post)
        )

    def once(self, handler: Step) -> Handler:
        """The handler, run for a message not answered yet (from the step it was left at),
        and ending quietly on Undelivered (the policy has logged that one line already, and
        Kurigram would add a traceback) or FencedOff."""

        async def run(client: Client, message: Message) -> None:
            with contextlib.suppress(Undelivered, FencedOff):
                step = await self.claim(message)
                if step == SKIP:
                    log.info("already answered", extra={"message_id": message.id})
                    return
                await handler(client, message, step)
                await self.advance(message, DONE)

        return run


Handler = Callable[[Client, Message], Awaitable[None]]
Step = Callable[[Client, Message, str], Awaitable[None]]


def attach(
    client: Client,
    settings: Settings,
    marks: ReplyMarks,
    fence: Callable[[], int | None],
) -> Any:
    handlers = BotHandlers(settings, marks, fence)
    handlers.register(client)
    return handlers
