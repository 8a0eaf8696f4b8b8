"""What the bot says: pure functions from file facts and links to text."""

from __future__ import annotations

from html import escape

from ..sizes import human_size

HELP = (
    "Send me a file — a video, audio, document, photo, voice note or GIF — and I will "
    "answer with a direct download link and a watch page.\n\n"
    "Links open in any browser or player (VLC, mpv) and support seeking and resuming "
    "downloads. Links never expire."
)
REFUSED = "Sorry, this bot is private: you are not on its list of allowed users."
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
