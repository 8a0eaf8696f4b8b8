"""What the bot says: pure functions from file facts and links to text."""

from __future__ import annotations

import time
from collections.abc import Iterable
from html import escape

from ..sizes import human_size

HELP = (
    "Send me a file — a video, audio, document, photo, voice note or GIF — and I will "
    "answer with a direct download link and a watch page.\n\n"
    "Links open in any browser or player (VLC, mpv) and support seeking and resuming "
    "downloads.\n\n"
    "Reply /link 24h (or 90m, 7d) to a file or to my links to get links that stop working "
    "after that time."
)
OWNER_HELP = (
    "\n\nOwner commands: /revoke (reply to a file or its links, or /revoke MESSAGE_ID), "
    "/unrevoke, /ban USER_ID, /unban USER_ID, /users, /stats."
)
REFUSED = "Sorry, this bot is private: you are not on its list of allowed users."
BANNED = "Sorry, you can no longer use this bot."
OWNERS_ONLY = "Sorry, only the bot's owners can use that command."
NO_TARGET = "Please send that as a reply to one of your files, or to the links I sent for it."
STATE_DOWN = "Sorry, I cannot reach my storage just now. Please try again in a minute."
UNSUPPORTED = "Please send a file (document, video, audio, voice note, photo or GIF)."
STORE_FAILED = (
    "Sorry, I could not store your file just now (Telegram refused it). Please send it again later."
)


def links_text(file_name: str, size: int, download: str, watch: str) -> str:
    return (
        f"<b>{escape(file_name)}</b>\n"
        f"Size: {human_size(size)}\n\n"
        f"Download: {escape(download)}\n"
        f"Watch: {escape(watch)}"
    )


def _utc(expires: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expires))


def links_text_ending(
    file_name: str, size: int, download: str, watch: str, expires: int | None
) -> str:
    """links_text, plus when the links stop working (if they do)."""
    text = links_text(file_name, size, download, watch)
    return text if expires is None else f"{text}\n\nThese links expire on {_utc(expires)}."


def revoked_text(message_id: int, revoked: bool) -> str:
    if revoked:
        return f"Every link of file {message_id} now answers 410 Gone. /unrevoke undoes it."
    return f"The links of file {message_id} work again."


def ban_text(user_id: int, banned: bool) -> str:
    return f"User {user_id} is {'banned' if banned else 'no longer banned'}."


def _ids(ids: Iterable[int]) -> str:
    return ", ".join(str(i) for i in sorted(ids)) or "none"


def users_text(allowed: Iterable[int], owners: Iterable[int], banned: Iterable[int]) -> str:
    allowed = list(allowed)
    return (
        f"Owners: {_ids(owners)}\n"
        f"Allowed: {_ids(allowed) if allowed else 'everyone'}\n"
        f"Banned: {_ids(banned)}"
    )


def stats_text(
    files: int, bytes_served: int, active_streams: int, flood_waits: int, revoked: int
) -> str:
    return (
        f"Files resolved: {files}\n"
        f"Served: {human_size(bytes_served)}\n"
        f"Active streams: {active_streams}\n"
        f"Flood waits: {flood_waits}\n"
        f"Revoked files: {revoked}"
    )
