"""upload.getFile with Telegram's rules (core.telegram.org/api/files), and
upload.getFileHashes, the SHA-256 of each range that a download is checked against."""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from typing import Any

from pyrogram.raw import functions, types
from pyrogram.raw.core import Bytes

from .. import tl
from ..faults import corrupt
from ..mtproto.constructors import UPLOAD_FILE
from ..store import StoredFile
from .context import CallContext, RpcError
from .methods import Methods

methods = Methods()

MAX_LIMIT = 1 << 20
# upload.getFileHashes: core.telegram.org/method/upload.getFileHashes documents only the
# shape (Vector<FileHash>, each the SHA-256 of `limit` bytes at `offset`).  What Telegram
# really answers is 131072-byte ranges, eight per call, from the range holding the offset
# (reported in gram-js/gramjs issue 775); TDLib's FileDownloader takes whatever ranges come
# and hashes only the bytes the file has when the last range reaches past its end.
HASH_RANGE = 128 << 10
HASHES_PER_CALL = 8

_STORAGE_TYPES: dict[str, Any] = {
    "image/jpeg": types.storage.FileJpeg(),
    "image/png": types.storage.FilePng(),
    "image/gif": types.storage.FileGif(),
    "image/webp": types.storage.FileWebp(),
    "application/pdf": types.storage.FilePdf(),
    "audio/mpeg": types.storage.FileMp3(),
    "video/quicktime": types.storage.FileMov(),
    "video/mp4": types.storage.FileMp4(),
}
_UNKNOWN = types.storage.FileUnknown()


def check_limits(offset: int, limit: int, precise: bool) -> str | None:
    """The error Telegram gives for an illegal (offset, limit), or None when legal."""
    if limit <= 0 or limit > MAX_LIMIT:
        return "LIMIT_INVALID"
    if precise:
        if limit % 1024:
            return "LIMIT_INVALID"
        if offset < 0 or offset % 1024:
            return "OFFSET_INVALID"
    else:
        if limit % 4096 or MAX_LIMIT % limit:
            return "LIMIT_INVALID"
        if offset < 0 or offset % 4096:
            return "OFFSET_INVALID"
    # One request never spans two 1 MiB blocks.
    if offset // MAX_LIMIT != (offset + limit - 1) // MAX_LIMIT:
        return "LIMIT_INVALID"
    return None


@dataclass(frozen=True, slots=True)
class Located:
    """What a location names: the file, and where the bytes asked for are (the file's, or
    its thumbnail's) and how many the storage holds there."""

    stored: StoredFile
    path: str
    size: int


def locate(ctx: CallContext, location: Any) -> Located:
    if isinstance(location, types.InputDocumentFileLocation):
        want_photo = False
    elif isinstance(location, types.InputPhotoFileLocation):
        want_photo = True
    else:
        raise RpcError(400, "LOCATION_INVALID")
    stored = ctx.world.store.files.get(location.id)
    # A deleted file is answered like one that never existed, on every DC (no migrate).
    if stored is None or stored.gone or stored.access_hash != location.access_hash:
        raise RpcError(400, "FILE_ID_INVALID")
    if (stored.kind == "photo") != want_photo:
        raise RpcError(400, "LOCATION_INVALID")
    if stored.dc != ctx.dc:
        ctx.world.stats.bump(ctx.dc, "file_migrate_errors")
        raise RpcError(303, f"FILE_MIGRATE_{stored.dc}")
    if location.file_reference != stored.file_reference:
        ctx.world.stats.bump(ctx.dc, "file_reference_expired")
        raise RpcError(400, "FILE_REFERENCE_EXPIRED")
    thumb_size = getattr(location, "thumb_size", "")
    if want_photo or not thumb_size:
        # A photo's sizes are all one stored file here; its thumb_size picks nothing.
        return Located(stored, stored.path, stored.size)
    if stored.thumb is None or stored.thumb.type != thumb_size:
        # A size the document does not have.
        raise RpcError(400, "LOCATION_INVALID")
    return Located(stored, stored.thumb.path, stored.thumb.size)


def read_range(path: str, offset: int, limit: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, limit, offset)
    finally:
        os.close(fd)


@methods.register(functions.upload.GetFile)
async def get_file(ctx: CallContext, query: Any) -> Any:
    error = check_limits(query.offset, query.limit, bool(query.precise))
    if error is not None:
        raise RpcError(400, error)
    located = locate(ctx, query.location)
    stored = located.stored
    stats = ctx.world.stats
    stats.inflight_getfile[ctx.dc] += 1
    try:
        data = (
            read_range(located.path, query.offset, query.limit)
            if query.offset < located.size
            else b""
        )
    finally:
        stats.inflight_getfile[ctx.dc] -= 1
    stats.bump(ctx.dc, "getfile_requests")
    if located.path != stored.path:
        stats.bump(ctx.dc, "getfile_thumb_requests")
    stats.bump(ctx.dc, "getfile_bytes", len(data))
    if data and ctx.world.faults.corrupts(ctx.dc, stored.id):
        data = corrupt(data)
        stats.bump(ctx.dc, "getfile_corrupted")
    mime_type = stored.mime_type if located.path == stored.path else "image/jpeg"
    storage_type = _STORAGE_TYPES.get(mime_type, _UNKNOWN)
    # Serialized by hand: this answer is the emulator's hot path.
    return (
        struct.pack("<I", UPLOAD_FILE)
        + tl.write(storage_type)
        + struct.pack("<i", stored.date)
        + Bytes(data)
    )


def file_hashes(path: str, offset: int) -> list[Any]:
    """The FileHash ranges answered for `offset`: up to HASHES_PER_CALL consecutive
    HASH_RANGE-byte ranges from the one holding it, the last one cut at the end of the file;
    none at or past the end.  The end is that of the bytes stored, which a declared_size
    document claims to pass (getFile reads nothing there either)."""
    hashes: list[Any] = []
    start = offset - offset % HASH_RANGE
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        while offset < size and start < size and len(hashes) < HASHES_PER_CALL:
            limit = min(HASH_RANGE, size - start)
            digest = hashlib.sha256(os.pread(fd, limit, start)).digest()
            hashes.append(types.FileHash(offset=start, limit=limit, hash=digest))
            start += limit
    finally:
        os.close(fd)
    return hashes


@methods.register(functions.upload.GetFileHashes)
async def get_file_hashes(ctx: CallContext, query: Any) -> Any:
    # Telegram's page lists LOCATION_INVALID only; a negative offset is refused the way
    # getFile refuses one.
    if query.offset < 0:
        raise RpcError(400, "OFFSET_INVALID")
    located = locate(ctx, query.location)
    ctx.world.stats.bump(ctx.dc, "getfile_hashes_requests")
    return file_hashes(located.path, query.offset)
