"""/faults: shaping and fault injection, merged into the running settings or cleared."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from ..faults import FaultsUpdate
from .deps import EmulatorDep, check_dc
from .errors import ControlError, one_line

router = APIRouter()


@router.get("/faults")
async def get_faults(emu: EmulatorDep) -> dict[str, Any]:
    return emu.world.faults.snapshot()


@router.post("/faults")
async def post_faults(emu: EmulatorDep, request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ControlError(400, "body must be JSON") from None
    faults = emu.world.faults
    try:
        update = FaultsUpdate.model_validate(body)
        merged = faults.merge_dcs(update.dcs or {})
    except (ValidationError, ValueError) as exc:
        raise ControlError(400, one_line(exc)) from None
    for dc in update.revoke_authorizations or []:
        check_dc(emu, dc)
    rule_dcs = [rule.dc for rule in update.rpc_errors or []]
    rule_dcs += [rule.dc for rule in update.corrupt_getfile or []]
    for rule_dc in rule_dcs:
        if rule_dc is not None:
            check_dc(emu, rule_dc)
    for dc, settings in merged.items():
        was_down = faults.dcs[dc].down
        faults.dcs[dc] = settings
        if settings.down != was_down:
            await emu.set_down(dc, settings.down)
    if "account_bandwidth_bps" in update.model_fields_set:
        faults.account_bandwidth_bps = update.account_bandwidth_bps
        faults.account_lines.clear()
    if update.flood_waits is not None:
        faults.flood_waits.extend(update.flood_waits)
    if update.rpc_errors is not None:
        faults.rpc_errors.extend(update.rpc_errors)
    if update.corrupt_getfile is not None:
        faults.corrupt_getfile.extend(update.corrupt_getfile)
    if update.rotate_file_references:
        emu.world.store.rotate_references()
        faults.reference_rotations += 1
    for dc in update.revoke_authorizations or []:
        emu.world.revoke_authorizations(dc)
    return faults.snapshot()


@router.delete("/faults")
async def delete_faults(emu: EmulatorDep) -> dict[str, Any]:
    faults = emu.world.faults
    for dc, settings in faults.dcs.items():
        if settings.down:
            await emu.set_down(dc, False)
    faults.clear()
    return faults.snapshot()
