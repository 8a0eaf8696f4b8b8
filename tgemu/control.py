"""The control API (HTTP/JSON): configuration, files, counters and faults.

The contract is in shared/design/brief.md; outside checks rely on these names.  Bad input is
answered with a 4xx JSON error, never a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, BinaryIO

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .faults import FaultsUpdate
from .media import KINDS, bot_api_file_id, ingest
from .server import Emulator

_CHUNK = 1 << 20


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


def create_control_app(emu: Emulator) -> FastAPI:
    app = FastAPI(title="tgemu control API", version="1", docs_url=None, redoc_url=None)

    @app.exception_handler(ControlError)
    async def control_error(request: Request, exc: ControlError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg"))}
            for e in exc.errors()
        ]
        return JSONResponse({"error": "invalid request", "details": details}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/config")
    async def config() -> dict[str, Any]:
        return emu.config_json()

    def check_dc(dc_id: int) -> None:
        if dc_id not in emu.dc_ids:
            raise ControlError(400, f"dc_id must be one of {emu.dc_ids}")

    def store_upload(
        file: UploadFile, dc_id: int, file_name: str | None, mime_type: str | None, kind: str
    ) -> Any:
        check_dc(dc_id)
        if kind not in KINDS:
            raise ControlError(400, f"kind must be one of {', '.join(KINDS)}")
        try:
            return ingest(
                emu.store,
                _chunks(file.file),
                dc_id,
                file_name or file.filename,
                mime_type or None,
                kind,
            )
        except ValueError as exc:
            raise ControlError(400, str(exc)) from None

    emu.extra["store_upload"] = store_upload

    @app.post("/files")
    def post_file(
        file: Annotated[UploadFile, File()],
        dc_id: Annotated[int, Form()],
        file_name: Annotated[str | None, Form()] = None,
        mime_type: Annotated[str | None, Form()] = None,
        kind: Annotated[str, Form()] = "document",
    ) -> dict[str, Any]:
        stored = store_upload(file, dc_id, file_name, mime_type, kind)
        return {
            "file_id": bot_api_file_id(stored),
            "dc_id": stored.dc,
            "size": stored.size,
            "id": stored.id,
            "access_hash": stored.access_hash,
            "file_reference": stored.file_reference.hex(),
            "mime_type": stored.mime_type,
            "file_name": stored.name,
        }

    @app.get("/stats")
    async def stats() -> dict[str, Any]:
        return emu.stats.snapshot()

    @app.post("/stats/reset")
    async def stats_reset() -> dict[str, Any]:
        emu.stats.reset()
        return emu.stats.snapshot()

    @app.get("/faults")
    async def get_faults() -> dict[str, Any]:
        return emu.faults.snapshot()

    @app.post("/faults")
    async def post_faults(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise ControlError(400, "body must be JSON") from None
        try:
            update = FaultsUpdate.model_validate(body)
            merged = emu.faults.merge_dcs(update.dcs or {})
        except (ValidationError, ValueError) as exc:
            raise ControlError(400, _one_line(exc)) from None
        for dc in update.revoke_authorizations or []:
            check_dc(dc)
        faults = emu.faults
        for dc, settings in merged.items():
            was_down = faults.dcs[dc].down
            faults.dcs[dc] = settings
            if settings.down != was_down:
                await emu.set_down(dc, settings.down)
        if "account_bandwidth_bps" in update.model_fields_set:
            faults.account_bandwidth_bps = update.account_bandwidth_bps
            faults.account_buckets.clear()
        if update.flood_waits is not None:
            faults.flood_waits.extend(update.flood_waits)
        if update.rotate_file_references:
            emu.store.rotate_references()
            faults.reference_rotations += 1
        for dc in update.revoke_authorizations or []:
            emu.revoke_authorizations(dc)
        return faults.snapshot()

    @app.delete("/faults")
    async def delete_faults() -> dict[str, Any]:
        for dc, settings in emu.faults.dcs.items():
            if settings.down:
                await emu.set_down(dc, False)
        emu.faults.clear()
        return emu.faults.snapshot()

    return app


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return str(exc)
