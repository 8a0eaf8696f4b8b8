"""/files: putting files into storage and losing them again."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile

from ..media import bot_api_file_id, find_file, thumb_json
from .deps import EmulatorDep, store_upload
from .errors import ControlError

router = APIRouter()


@router.post("/files")
def post_file(
    emu: EmulatorDep,
    file: Annotated[UploadFile, File()],
    dc_id: Annotated[int, Form()],
    file_name: Annotated[str | None, Form()] = None,
    mime_type: Annotated[str | None, Form()] = None,
    kind: Annotated[str, Form()] = "document",
    thumb: Annotated[UploadFile | None, File()] = None,
) -> dict[str, Any]:
    stored = store_upload(emu, file, dc_id, file_name, mime_type, kind, thumb=thumb)
    return {
        "file_id": bot_api_file_id(stored),
        "dc_id": stored.dc,
        "size": stored.size,
        "id": stored.id,
        "access_hash": stored.access_hash,
        "file_reference": stored.file_reference.hex(),
        "mime_type": stored.mime_type,
        "file_name": stored.name,
        "thumb": thumb_json(stored),
    }


@router.delete("/files/{file_id}")
def delete_file(emu: EmulatorDep, file_id: str) -> dict[str, Any]:
    """Storage loses the file: getFile answers FILE_ID_INVALID, messages still name it.

    `file_id` is the numeric id or the Bot-API file_id that POST /files answered.
    """
    store = emu.world.store
    stored = find_file(store, file_id)
    if stored is None or stored.gone:
        raise ControlError(404, f"no file {file_id}")
    store.delete_file(stored)
    return {"id": stored.id, "dc_id": stored.dc, "gone": True}
