"""Failures the streaming layer must tell apart."""

from __future__ import annotations


class TelegramUnavailable(Exception):
    """Telegram could not serve the request now; `retry_after` seconds is a fair wait."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FloodWaitTooLong(TelegramUnavailable):
    """Every bot that could serve this is in a FLOOD_WAIT longer than we sleep."""


class FileGone(Exception):
    """The bin-channel message does not exist or holds no file."""
