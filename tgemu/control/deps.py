"""What the routers share: the emulator they drive, and checks of the ids they are given."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, BinaryIO

from fastapi import Depends, Request, UploadFile

from ..media import KINDS, MAX_THUMB_BYTES, ingest
from ..server import Emulator
from ..store import StoredFile
from .errors import ControlError

_CHUNK = 1 << 20


def _emulator(request: Request) -> Emulator:
    emu: Emulator = request.app.state.emulator
    return emu


EmulatorDep = Annotated[Emulator, Depends(_emulator)]


def check_dc(emu: Emulator, dc_id: int) -> None:
    if dc_id not in emu.dc_ids:
        raise ControlError(400, f"dc_id must be one of {emu.dc_ids}")


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


def store_upload(
    emu: Emulator,
    file: UploadFile,
    dc_id: int,
    file_name: str | None,
    mime_type: str | None,
    kind: str,
    declared_size: int | None = None,
    thumb: UploadFile | None = None,
) -> StoredFile:
    """Put an uploaded file (and its thumbnail, a JPEG) into the emulator's storage on DC
    `dc_id`."""
    check_dc(emu, dc_id)
    if kind not in KINDS:
        raise ControlError(400, f"kind must be one of {', '.join(KINDS)}")
    # Read one byte past the limit: enough to tell a thumbnail that is too big.
    thumb_data = None if thumb is None else thumb.file.read(MAX_THUMB_BYTES + 1)
    try:
        return ingest(
            emu.world.store,
            _chunks(file.file),
            dc_id,
            file_name or file.filename,
            mime_type or None,
            kind,
            declared_size,
            thumb_data,
        )
    except ValueError as exc:
        raise ControlError(400, str(exc)) from None
