"""What the store keeps, as values: the same records whichever backend holds them."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AuthKeyRecord:
    bot_id: int
    dc: int
    auth_key: bytes
    authorized: bool


@dataclass(frozen=True, slots=True)
class FileInfo:
    """A bin-channel file: everything needed to fetch and describe it."""

    message_id: int
    media_id: int
    access_hash: int
    file_reference: bytes
    dc: int
    size: int
    mime_type: str
    file_name: str
    kind: str  # "document" or "photo": which InputFileLocation names it
    thumb_size: str  # a photo's size type: the one size that is the file
    date: int
    # A document's best thumbnail (a JPEG Telegram keeps beside it): its size type, fetched
    # as InputDocumentFileLocation(thumb_size=...), and its length; "" and 0 when it has none.
    thumb_type: str = ""
    thumb_length: int = 0

    @property
    def is_photo(self) -> bool:
        return self.kind == "photo"

    @property
    def has_thumb(self) -> bool:
        return bool(self.thumb_type) and self.thumb_length > 0


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """A bin-channel file as the file index lists it (the WebDAV view's folders): enough to
    list it without asking Telegram, and to give it the validators /dl gives."""

    message_id: int
    media_id: int  # with the size, the file's ETag (the same /dl answers)
    file_name: str
    size: int
    mime_type: str
    modified: int  # the file's own date: the Last-Modified /dl answers
    posted: int  # when its message was posted: which month's folder holds it

    @property
    def month(self) -> str:
        """The folder of the month of posting, UTC: ``2026-11``."""
        return month_of(self.posted)

    @classmethod
    def of(cls, info: FileInfo, posted: int) -> IndexEntry:
        return cls(
            info.message_id,
            info.media_id,
            info.file_name,
            info.size,
            info.mime_type,
            info.date,
            posted,
        )


def month_of(unix_seconds: int) -> str:
    return time.strftime("%Y-%m", time.gmtime(max(0, unix_seconds)))


# A bot's own session as its client keeps it (Kurigram's `sessions` row): dc_id, api_id,
# test_mode, auth_key, date, user_id, is_bot, server_address, port.  A field never set is
# absent.
SessionFields = dict[str, int | str | bytes | bool | None]

# One update state (Kurigram's UpdateState): id -> (pts, qts, date, seq); id 0 is the
# account's common state, others are channels.
UpdateStates = dict[int, tuple[int | None, int | None, int | None, int | None]]
