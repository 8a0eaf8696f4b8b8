"""Failures the streaming and web layers must tell apart, each with its HTTP meaning."""

from __future__ import annotations


class TelegramUnavailable(Exception):
    """Telegram could not serve the request now; `retry_after` seconds is a fair wait (503)."""

    def __init__(self, message: str, retry_after: float = 5) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after + 0.999))


class FloodWaitTooLong(TelegramUnavailable):
    """Every bot that could serve this is in a FLOOD_WAIT longer than we sleep."""


class FileGone(Exception):
    """The bin-channel message does not exist, holds no file, or its file is gone (404)."""


class NoThumbnail(FileGone):
    """The file is there but has no thumbnail (any more) to fetch (404, saying so)."""


class UpstreamRejected(Exception):
    """Telegram refused the request in a way no wait will fix (502): logged, never retried."""


class BotRefused(Exception):
    """Telegram refuses the bot's credentials (ACCESS_TOKEN_INVALID and the like)."""
