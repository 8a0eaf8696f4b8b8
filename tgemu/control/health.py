"""GET /healthz and GET /config: is it up, and how to reach and trust it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from .deps import EmulatorDep

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, Any]:
    return {"ok": True}


@router.get("/config")
async def config(emu: EmulatorDep) -> dict[str, Any]:
    return emu.config_json()
