"""Kurigram handlers of the main bot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
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
from ..metrics import Metrics
from ..store import SharedStateDown, StateStore
from ..store.reply_marks import DONE, SKIP, ReplyMarks, copied, copied_id
from ..store.revocations import Revocations
from ..telegram.outcomes import attempt
from ..telegram.policy import SEND_MEDIA, SEND_MESSAGE, Action, Outcome, Situation, decide
from .commands import Commands
from .media import media_facts
from .replies import (
    BANNED,
    HELP,
    OWNER_HELP,
    OWNERS_ONLY,
    REFUSED,
    STATE_DOWN,
    STORE_FAILED,
    UNSUPPORTED,
    links_text_ending,
)

log = logging.getLogger("tgstream.bot")

_T = TypeVar("_T")
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


class BotHandlers:
    """Each message is answered once: its mark is claimed before anything is sent, and each
    step recorded (reply_marks.py), so an update replayed by a take-over, or by Kurigram's
    own gap recovery, is not answered again and a file is not copied twice."""

    def __init__(
        self,
        settings: Settings,
        marks: ReplyMarks,
        fence: Callable[[], int | None],
        store: StateStore,
        revocations: Revocations,
        metrics: Metrics,
        index: IndexFile | None = None,
    ) -> None:
        self.settings = settings
        self.index = index
        self.secret = settings.secret.get_secret_value()
        self.marks = marks
        self.fence = fence
        self.store = store
        self.commands = Commands(settings, store, revocations, metrics, media_facts)

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

    def links_for(
        self, message_id: int, file_name: str, expires: int | None = None
    ) -> tuple[str, str]:
        base = self.settings.public_url
        # The Download button saves (attachment); the watch page plays.
        return (
            links.public_url(base, links.download_path(message_id, file_name, self.secret, expires))
            + "&download=1",
            links.public_url(base, links.watch_path(message_id, file_name, self.secret, expires)),
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

    def is_owner(self, message: Message) -> bool:
        return message.from_user is not None and message.from_user.id in self.settings.owners

    async def refusal(self, message: Message) -> str | None:
        """Why this sender is refused (the text to answer), or None: owners always pass,
        banned users never, the rest by ALLOWED_USERS."""
        if self.is_owner(message):
            return None
        user = message.from_user
        if user is None:
            return REFUSED
        try:
            if await self.store.is_banned(user.id):
                return BANNED
        except SharedStateDown:
            # A leader cut off from its state stops leading within the lease anyway; an
            # answer meanwhile beats none.
            log.warning("ban list unreadable, answering", extra={"user_id": user.id})
        users = self.settings.allowed_users
        return None if not users or user.id in users else REFUSED

    async def reply(self, message: Message, text: str) -> None:
        await patiently(lambda: message.reply_text(text))

    async def on_start(self, client: Client, message: Message, step: str) -> None:
        # A stranger told "send me a file" would only be refused on the next message.
        refused = await self.refusal(message)
        text = refused or (HELP + OWNER_HELP if self.is_owner(message) else HELP)
        await self.reply(message, text)

    async def on_private_file(self, client: Client, message: Message, step: str) -> None:
        refused = await self.refusal(message)
        if refused is not None:
            await self.reply(message, refused)  # and nothing is copied
            return
        facts = media_facts(message)
        if facts is None:
            await patiently(lambda: message.reply_text(UNSUPPORTED))
            return
        copy_id = copied_id(step)
        posted = message.date  # a copy made before a restart: its original's date is close
        if copy_id is None:
            # Copy once: a retry after a flood wait must not post the file twice, so only
            # the call that failed is repeated; and once done, the copy is recorded.
            try:
                copy = await patiently(lambda: message.copy(self.settings.bin_channel), SEND_MEDIA)
            except Undelivered:
                await patiently(lambda: message.reply_text(STORE_FAILED))
                return
            copy_id = copy.id
            posted = copy.date
            await self.advance(message, copied(copy_id))
            # So that /link and /revoke in reply to this file find its copy.
            await self.store.save_copy(message.chat.id, message.id, copy_id)
        name, size = facts.name_in_bin(copy_id), facts.size
        ttl = self.settings.link_ttl
        expires = None if ttl is None else int(time.time()) + ttl
        download, watch = self.links_for(copy_id, name, expires)
        await patiently(
            lambda: message.reply_text(
                links_text_ending(name, size, download, watch, expires),
                parse_mode=enums.ParseMode.HTML,
                reply_markup=self.markup(download, watch),
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        log.info("file stored", extra={"message_id": copy_id, "size": size})
        await self.add_to_index(copy_id, posted)

    async def on_other_private(self, client: Client, message: Message, step: str) -> None:
        refused = await self.refusal(message)
        await self.reply(message, refused or UNSUPPORTED)

    async def on_link(self, client: Client, message: Message, step: str) -> None:
        refused = await self.refusal(message)
        if refused is not None:
            await self.reply(message, refused)
            return
        await self.commands.on_link(
            client,
            message,
            lambda text: self.reply(message, text),
            lambda text: patiently(
                lambda: message.reply_text(
                    text,
                    parse_mode=enums.ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            ),
        )

    def for_owners(self, command: OwnerCommand) -> Step:
        """The owner command, or a polite refusal for anyone else."""

        async def run(client: Client, message: Message, step: str) -> None:
            if not self.is_owner(message):
                refused = await self.refusal(message)
                await self.reply(message, refused or OWNERS_ONLY)
                return
            await command(client, message, lambda text: self.reply(message, text))

        return run

    def owner_commands(self) -> dict[str, OwnerCommand]:
        c = self.commands
        return {
            "revoke": lambda cl, m, r: c.on_revoke(cl, m, r, revoked=True),
            "unrevoke": lambda cl, m, r: c.on_revoke(cl, m, r, revoked=False),
            "ban": lambda cl, m, r: c.on_ban(m, r, banned=True),
            "unban": lambda cl, m, r: c.on_ban(m, r, banned=False),
            "users": lambda cl, m, r: c.on_users(r),
            "stats": lambda cl, m, r: c.on_stats(r),
        }

    async def on_channel_post(self, client: Client, message: Message, step: str) -> None:
        facts = media_facts(message)
        if facts is None or message.reply_markup is not None:
            return
        download, watch = self.links_for(message.id, facts.name_in_bin(message.id))
        await patiently(
            lambda: message.edit_reply_markup(self.markup(download, watch)), EDIT_MESSAGE
        )
        await self.add_to_index(message.id, message.date)

    async def add_to_index(self, message_id: int, posted: datetime | None) -> None:
        """The file joins the file index (the WebDAV view).  Best effort, after the user is
        answered: a file the index misses now is found by `tgstream index --backfill`."""
        if self.index is None:
            return
        when = int(posted.timestamp()) if posted is not None else int(time.time())
        try:
            await self.index(message_id, when)
        except Exception as exc:  # any failure: the answer is sent, the backfill repairs
            log.warning("file not indexed", extra={"message_id": message_id, "error": repr(exc)})

    def register(self, client: Client) -> None:
        media = filters.document | filters.video | filters.audio | filters.voice
        media = media | filters.animation | filters.photo
        start = filters.command(["start", "help"])
        client.on_message(filters.private & start)(self.once(self.on_start))
        link = filters.command("link")
        client.on_message(filters.private & link)(self.once(self.on_link))
        owned = self.owner_commands()
        for name, command in owned.items():
            handler = self.once(self.for_owners(command))
            client.on_message(filters.private & filters.command(name))(handler)
        commands = filters.command(["start", "help", "link", *owned])
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
                try:
                    await handler(client, message, step)
                except SharedStateDown as exc:
                    log.warning("state unreadable while answering", extra={"error": str(exc)})
                    await self.reply(message, STATE_DOWN)
                await self.advance(message, DONE)

        return run


Handler = Callable[[Client, Message], Awaitable[None]]
# Indexes a bin-channel message's file: (message id, posted at, unix time).
IndexFile = Callable[[int, int], Awaitable[None]]
Step = Callable[[Client, Message, str], Awaitable[None]]
OwnerCommand = Callable[[Client, Message, Callable[[str], Awaitable[object]]], Awaitable[None]]


def attach(
    client: Client,
    settings: Settings,
    marks: ReplyMarks,
    fence: Callable[[], int | None],
    store: StateStore,
    revocations: Revocations,
    metrics: Metrics,
    index: IndexFile | None = None,
) -> Any:
    handlers = BotHandlers(settings, marks, fence, store, revocations, metrics, index)
    handlers.register(client)
    return handlers
