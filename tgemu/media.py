"""Putting files into the emulator: stored on disk, described in the store, named by file_id."""

from __future__ import annotations

import mimetypes
import os
import secrets
import struct
import time
from collections.abc import Iterable
from pathlib import Path

from pyrogram.file_id import FileId, FileType, ThumbnailSource

from .store import Store, StoredFile, new_file_reference

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


def ingest(
    store: Store,
    chunks: Iterable[bytes],
    dc: int,
    file_name: str | None,
    mime_type: str | None,
    kind: str,
    declared_size: int | None = None,
) -> StoredFile:
    """Write the bytes to the state dir (streamed, never whole in memory) and register them.

    `declared_size` makes the document claim more bytes than were stored, so a test can
    send a multi-GB file without writing one; getFile past the stored bytes reads nothing.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    if declared_size is not None and not 0 < declared_size <= MAX_DECLARED_SIZE:
        raise ValueError(f"declared_size must be between 1 and {MAX_DECLARED_SIZE}")
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
    )
    store.add_file(stored)
    return stored


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
