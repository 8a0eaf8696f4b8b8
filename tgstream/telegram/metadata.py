"""A bin-channel message's media as a FileInfo, with Telegram's metadata made safe.

MIME types are whatever the sender's app wrote: CR/LF, control characters, a media type
that is no media type.  Content-Type carries it as it is, so it is cleaned where it enters
(and again where records stored before this check are served).
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

from pyrogram import raw

from ..store import FileInfo
from .errors import FileGone

_PHOTO_SIZE_ORDER = "sbmxyzwa"
FALLBACK_TYPE = "application/octet-stream"
# RFC 9110 media-type: token "/" token, optionally followed by parameters.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(rf"({_TOKEN})/({_TOKEN})")


def clean_media_type(value: str | None) -> str:
    """The bare media type (no parameters), lower-case, or the fallback when it is none."""
    if not value:
        return FALLBACK_TYPE
    base = value.split(";", 1)[0].strip()
    if len(base) > 127 or not _MEDIA_TYPE.fullmatch(base):
        return FALLBACK_TYPE
    return base.lower()


# The extension an unnamed file gets, for the types Telegram's apps send without a name
# (voice notes, round videos, GIFs, forwarded media).  A fixed table rather than the
# platform's mimetypes, whose answers differ between Python versions and machines: every
# replica and the bot must name a file alike.
_EXTENSIONS = {
    "application/pdf": ".pdf",
    "application/x-tgsticker": ".tgs",
    "application/zip": ".zip",
    "audio/aac": ".aac",
    "audio/flac": ".flac",
    "audio/mp4": ".m4a",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "audio/opus": ".opus",
    "audio/wav": ".wav",
    "audio/x-flac": ".flac",
    "audio/x-m4a": ".m4a",
    "audio/x-wav": ".wav",
    "image/gif": ".gif",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "text/plain": ".txt",
    "video/3gpp": ".3gp",
    "video/mp4": ".mp4",
    "video/mpeg": ".mpg",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "video/x-msvideo": ".avi",
}


def file_name_of(
    message_id: int, given: str | None, mime_type: str | None, *, photo: bool = False
) -> str:
    """The one name of the file in bin-channel message `message_id`, wherever it is shown:
    the bot's reply, its links, the watch page and Content-Disposition.

    The sender's own name when it has one (exact: pages escape it, headers encode it);
    else a name from the bin-channel message id, never from the id of the user's message
    it was copied from (the bot and the resolver both know the former), with the
    extension of its type.  Telegram photos carry no name or type: they are JPEG.
    """
    if photo:
        return f"photo-{message_id}.jpg"
    if given:
        return given
    return f"file-{message_id}{_EXTENSIONS.get(clean_media_type(mime_type), '')}"


class _Thumb(TypedDict):
    thumb_type: str
    thumb_length: int


def _best_thumb(thumbs: list[Any]) -> _Thumb:
    """The largest JPEG thumbnail a document lists: a PhotoSize, or the full length of a
    progressive one.  Stripped, cached and path (SVG outline) sizes are no file to fetch."""
    best: tuple[int, int, str] | None = None
    for thumb in thumbs:
        if isinstance(thumb, raw.types.PhotoSize):
            length = thumb.size
        elif isinstance(thumb, raw.types.PhotoSizeProgressive) and thumb.sizes:
            length = max(thumb.sizes)
        else:
            continue
        # A size type is one character; an odd one is no location Telegram would answer.
        if length <= 0 or len(thumb.type) != 1 or not thumb.type.isalpha():
            continue
        candidate = (length, _PHOTO_SIZE_ORDER.find(thumb.type), thumb.type)
        if best is None or candidate > best:
            best = candidate
    if best is None:
        return _Thumb(thumb_type="", thumb_length=0)
    return _Thumb(thumb_type=best[2], thumb_length=best[0])


def file_info_from_message(message_id: int, message: Any) -> FileInfo:
    media = getattr(message, "media", None)
    document = getattr(media, "document", None)
    photo = getattr(media, "photo", None)
    if isinstance(document, raw.types.Document):
        name = ""
        for attribute in document.attributes:
            if isinstance(attribute, raw.types.DocumentAttributeFilename):
                name = attribute.file_name
        return FileInfo(
            message_id=message_id,
            media_id=document.id,
            access_hash=document.access_hash,
            file_reference=document.file_reference,
            dc=document.dc_id,
            size=max(0, int(document.size)),
            mime_type=clean_media_type(document.mime_type),
            # Names stay exact: Content-Disposition carries them percent-encoded (RFC 8187)
            # and pages escape them, so a CR/LF in a name reaches no header as such.
            file_name=file_name_of(message_id, name, document.mime_type),
            kind="document",
            thumb_size="",
            date=document.date,
            **_best_thumb(document.thumbs or []),
        )
    if isinstance(photo, raw.types.Photo):
        sizes = [s for s in photo.sizes if isinstance(s, raw.types.PhotoSize)]
        if not sizes:
            raise FileGone(f"message {message_id} has a photo with no downloadable size")
        best = max(sizes, key=lambda s: (s.size, _PHOTO_SIZE_ORDER.find(s.type)))
        return FileInfo(
            message_id=message_id,
            media_id=photo.id,
            access_hash=photo.access_hash,
            file_reference=photo.file_reference,
            dc=photo.dc_id,
            size=best.size,
            mime_type="image/jpeg",
            file_name=file_name_of(message_id, None, None, photo=True),
            kind="photo",
            thumb_size=best.type,
            date=photo.date,
        )
    raise FileGone(f"message {message_id} holds no file")
