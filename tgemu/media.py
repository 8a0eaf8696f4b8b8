"""Putting files into the emulator: stored on disk, described in the store, named by file_id."""

from __future__ import annotations

import mimetypes
import os
import secrets
import struct
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TypedDict

from pyrogram.file_id import FileId, FileType, ThumbnailSource

from .store import Store, StoredFile, StoredThumb, new_file_reference

KINDS = ("document", "video", "audio", "photo", "animation", "voice")
# Telegram's cap on one document (premium accounts; 2000 MiB for the others).
MAX_DECLARED_SIZE = 4000 << 20
_FILE_TYPES = {
    "document": FileType.DOCUMENT,
    "video": FileType.VIDEO,
    "audio": FileType.AUDIO,
    "animation": FileType.ANIMATION,
    "voice": FileType.VOICE,
    "photo": FileType.PHOTO,
}
_DEFAULT_MIME = {
    "video": "video/mp4",
    "audio": "audio/mpeg",
    "voice": "audio/ogg",
    "animation": "video/mp4",
    "photo": "image/jpeg",
    "document": "application/octet-stream",
}


# Telegram's rules for the thumbnail sent with a document (core.telegram.org/api/files,
# "thumb" of inputMediaUploadedDocument): a JPEG under 200 kB, at most 320 px a side.  It
# keeps it as the document's one PhotoSize, of type "m" (or "s" when 100 px or smaller).
MAX_THUMB_BYTES = 200 * 1000
MAX_THUMB_SIDE = 320
SMALL_THUMB_SIDE = 100
# JPEG markers that begin a frame (SOF0..SOF15 but DHT, JPG and DAC), whose header holds the
# picture's height and width.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def jpeg_dimensions(data: bytes) -> tuple[int, int]:
    """(width, height) of a JPEG, read from its frame header; ValueError if it is none."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("the thumbnail is not a JPEG")
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            break
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if marker in _SOF_MARKERS and at + 9 <= len(data):
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            if width and height:
                return width, height
            break
        if marker == 0xDA or length < 2:  # the scan begins: no frame header before it
            break
        at += 2 + length
    raise ValueError("the thumbnail is not a JPEG")


def check_thumb(data: bytes) -> tuple[str, int, int]:
    """(size type, width, height) of a thumbnail Telegram would take; ValueError saying
    what is wrong otherwise."""
    if not data:
        raise ValueError("the thumbnail is empty")
    if len(data) >= MAX_THUMB_BYTES:
        raise ValueError(f"the thumbnail must be smaller than {MAX_THUMB_BYTES} bytes")
    width, height = jpeg_dimensions(data)
    if max(width, height) > MAX_THUMB_SIDE:
        raise ValueError(
            f"the thumbnail must be at most {MAX_THUMB_SIDE}x{MAX_THUMB_SIDE} pixels, "
            f"not {width}x{height}"
        )
    return ("s" if max(width, height) <= SMALL_THUMB_SIDE else "m"), width, height


def ingest(
    store: Store,
    chunks: Iterable[bytes],
    dc: int,
    file_name: str | None,
    mime_type: str | None,
    kind: str,
    declared_size: int | None = None,
    thumb: bytes | None = None,
) -> StoredFile:
    """Write the bytes to the state dir (streamed, never whole in memory) and register them.

    `declared_size` makes the document claim more bytes than were stored, so a test can
    send a multi-GB file without writing one; getFile past the stored bytes reads nothing.
    `thumb` is the document's thumbnail (a JPEG within Telegram's limits, check_thumb).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    if declared_size is not None and not 0 < declared_size <= MAX_DECLARED_SIZE:
        raise ValueError(f"declared_size must be between 1 and {MAX_DECLARED_SIZE}")
    if thumb is not None and kind == "photo":
        raise ValueError("a photo has no thumbnail of its own to send")
    thumb_shape = check_thumb(thumb) if thumb is not None else None
    file_id, path = store.new_file_path()
    size = 0
    tmp = Path(f"{path}.part")
    with open(tmp, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
            size += len(chunk)
    if size == 0 or (declared_size is not None and declared_size < size):
        tmp.unlink()
        raise ValueError("the file is empty" if size == 0 else "declared_size is below the data")
    os.replace(tmp, path)
    stored_thumb = None
    if thumb is not None and thumb_shape is not None:
        thumb_path = path.with_suffix(".thumb.jpg")
        thumb_path.write_bytes(thumb)
        stored_thumb = StoredThumb(str(thumb_path), *thumb_shape, len(thumb))
    name = file_name or f"file_{file_id}"
    mime = mime_type or mimetypes.guess_type(name)[0] or _DEFAULT_MIME[kind]
    stored = StoredFile(
        id=file_id,
        dc=dc,
        access_hash=secrets.randbits(63),
        file_reference=new_file_reference(),
        size=declared_size or size,
        mime_type=mime,
        name=name,
        kind=kind,
        date=int(time.time()),
        path=str(path),
        width=1280 if kind in ("video", "animation", "photo") else None,
        height=720 if kind in ("video", "animation", "photo") else None,
        duration=60.0 if kind in ("video", "audio", "voice", "animation") else None,
        thumb=stored_thumb,
    )
    store.add_file(stored)
    return stored


class ThumbJson(TypedDict):
    """A document's thumbnail as the control API describes it."""

    type: str
    w: int
    h: int
    size: int


def thumb_json(stored: StoredFile) -> ThumbJson | None:
    thumb = stored.thumb
    return (
        None if thumb is None else ThumbJson(type=thumb.type, w=thumb.w, h=thumb.h, size=thumb.size)
    )


def bot_api_file_id(stored: StoredFile) -> str:
    """The Bot-API style file_id (as Kurigram's FileId encodes it) naming this file."""
    if stored.kind == "photo":
        file_id = FileId(
            file_type=FileType.PHOTO,
            dc_id=stored.dc,
            file_reference=stored.file_reference,
            media_id=stored.id,
            access_hash=stored.access_hash,
            volume_id=0,
            thumbnail_source=ThumbnailSource.THUMBNAIL,
            thumbnail_file_type=FileType.PHOTO,
            thumbnail_size="y",
            local_id=0,
        )
    else:
        file_id = FileId(
            file_type=_FILE_TYPES[stored.kind],
            dc_id=stored.dc,
            file_reference=stored.file_reference,
            media_id=stored.id,
            access_hash=stored.access_hash,
        )
    encoded: str = file_id.encode()
    return encoded


def find_file(store: Store, ref: str) -> StoredFile | None:
    """The file the control API's `ref` names: its numeric id or a Bot-API file_id."""
    if ref.isdecimal():
        return store.files.get(int(ref))
    try:
        decoded = FileId.decode(ref)
    except (ValueError, LookupError, struct.error):
        return None  # not a file_id at all, so it names no file
    stored = store.files.get(decoded.media_id)
    if stored is None or stored.access_hash != decoded.access_hash:
        return None
    return stored
