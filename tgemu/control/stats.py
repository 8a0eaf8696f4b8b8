"""/stats: the counters tests assert on, and resetting them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from .deps import EmulatorDep

router = APIRouter()


@router.get("/stats")
async def stats(emu: EmulatorDep) -> dict[str, Any]:
    return emu.world.stats.snapshot()


@router.post("/stats/reset")
async def stats_reset(emu: EmulatorDep) -> dict[str, Any]:
    emu.world.stats.reset()
    return emu.world.stats.snapshot()
