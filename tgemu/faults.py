"""Network shaping and fault injection, changed at run time through the control API."""

from __future__ import annotations

import random
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .link import Line


class DcFaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The round trip the DC adds to every answer (tgemu.link: latency plus serialisation).
    latency_ms: float = Field(0, ge=0, le=60_000)
    # Bytes per second that one connection may receive from the server; None = unlimited.
    bandwidth_bps: int | None = Field(None, gt=0)
    drop_probability: float = Field(0.0, ge=0.0, le=1.0)
    drop_after_bytes: int | None = Field(None, gt=0)
    down: bool = False
    # Accepts connections and reads what arrives, but never answers: a black hole.
    hang: bool = False


class CallRule(BaseModel):
    """Which calls a rule hits: a TL method, optionally only on one DC or from one account."""

    model_config = ConfigDict(extra="forbid")

    method: str = Field(min_length=1, max_length=200)
    dc: int | None = None
    # How many requests it hits before it is used up; None = every matching request.
    count: int | None = Field(1, ge=1)
    # The account making the call (see Connection._caller_id); None = any account.
    user_id: int | None = Field(None, ge=1)


class FloodRule(CallRule):
    seconds: int = Field(ge=0, le=86_400)


class RpcErrorRule(CallRule):
    # rpc_error's error_code is a TL int; Telegram uses negative ones too (-503 Timeout).
    code: int = Field(ge=-(2**31), le=2**31 - 1)
    # Telegram's texts are upper-case (FLOOD_PREMIUM_WAIT_3) but not all (-503 "Timeout"):
    # any printable ASCII without surrounding blanks.
    message: str = Field(min_length=1, max_length=200, pattern=r"^[!-~]([ -~]*[!-~])?$")
    # Seconds the DC holds the call, unrun, before it answers: Telegram's -503 Timeout comes
    # after its server waited that long for an internal one.
    delay: float = Field(0, ge=0, le=3600)


class CorruptRule(BaseModel):
    """upload.getFile answers whose bytes are damaged on the way out: a bit flipped in the
    first, middle and last byte, the length kept, so only a check of the content (the
    SHA-256 of upload.getFileHashes) can tell."""

    model_config = ConfigDict(extra="forbid")

    dc: int | None = None
    # How many answers it damages before it is used up; None = every matching answer.
    count: int | None = Field(1, ge=1)
    # Only answers for this document or photo id (StoredFile.id); None = any file.
    file_id: int | None = None


_Rule = TypeVar("_Rule", bound=CallRule)


def rule_matches(rule: CallRule, method: str, dc: int, user_id: int | None) -> bool:
    return rule.method == method and rule.dc in (None, dc) and rule.user_id in (None, user_id)


def take_rule(rules: list[_Rule], method: str, dc: int, user_id: int | None) -> _Rule | None:
    """The first rule that hits this call, with one of its uses spent (used up: removed)."""
    for rule in rules:
        if rule_matches(rule, method, dc, user_id):
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0:
                    rules.remove(rule)
            return rule
    return None


class FaultsUpdate(BaseModel):
    """What POST /faults accepts: every key optional, merged into the current settings.

    `dcs` maps a DC to a partial DcFaults; unknown keys are rejected when it is merged.
    `flood_waits` and `rpc_errors` add rules (checked in that order, first match wins); a
    matching call is answered FLOOD_WAIT_X or that rpc_error instead of being run.
    `rotate_file_references: true` rotates every file reference once, now.
    `revoke_authorizations: [dc, ...]` logs out every auth key on those DCs, so their next
    call answers AUTH_KEY_UNREGISTERED, as when Telegram terminates a session.
    `corrupt_getfile` adds rules (first match wins) that damage the bytes of matching
    upload.getFile answers.
    """

    model_config = ConfigDict(extra="forbid")

    dcs: dict[int, dict[str, Any]] | None = None
    account_bandwidth_bps: int | None = Field(None, gt=0)
    flood_waits: list[FloodRule] | None = None
    rpc_errors: list[RpcErrorRule] | None = None
    rotate_file_references: bool | None = None
    revoke_authorizations: list[int] | None = None
    corrupt_getfile: list[CorruptRule] | None = None


def corrupt(data: bytes) -> bytes:
    """`data` with one bit flipped in its first, middle and last byte (empty stays empty)."""
    if not data:
        return data
    damaged = bytearray(data)
    for at in {0, len(data) // 2, len(data) - 1}:
        damaged[at] ^= 0x01
    return bytes(damaged)


class Faults:
    def __init__(self, dc_ids: list[int]) -> None:
        self.dc_ids = dc_ids
        self.dcs: dict[int, DcFaults] = {dc: DcFaults() for dc in dc_ids}
        self.account_bandwidth_bps: int | None = None
        self.flood_waits: list[FloodRule] = []
        self.rpc_errors: list[RpcErrorRule] = []
        self.corrupt_getfile: list[CorruptRule] = []
        self.reference_rotations = 0
        # Each account's share of its cap, one line for all its connections (tgemu.link).
        self.account_lines: dict[int, Line] = {}

    def clear(self) -> None:
        self.dcs = {dc: DcFaults() for dc in self.dc_ids}
        self.account_bandwidth_bps = None
        self.flood_waits = []
        self.rpc_errors = []
        self.corrupt_getfile = []
        self.account_lines.clear()

    def snapshot(self) -> dict[str, Any]:
        return {
            "dcs": {str(dc): faults.model_dump() for dc, faults in self.dcs.items()},
            "account_bandwidth_bps": self.account_bandwidth_bps,
            "flood_waits": [rule.model_dump() for rule in self.flood_waits],
            "rpc_errors": [rule.model_dump() for rule in self.rpc_errors],
            "corrupt_getfile": [rule.model_dump() for rule in self.corrupt_getfile],
            "rotate_file_references": False,
            "file_reference_rotations": self.reference_rotations,
        }

    def merge_dcs(self, patches: dict[int, dict[str, Any]]) -> dict[int, DcFaults]:
        """Validate the per-DC patches against the current settings (ValueError if bad)."""
        merged: dict[int, DcFaults] = {}
        for dc, patch in patches.items():
            if dc not in self.dcs:
                raise ValueError(f"unknown DC {dc}")
            merged[dc] = DcFaults.model_validate({**self.dcs[dc].model_dump(), **patch})
        return merged

    def flood_wait_for(self, method: str, dc: int, user_id: int | None = None) -> int | None:
        """Seconds of FLOOD_WAIT that this request gets, consuming one use of the rule."""
        rule = take_rule(self.flood_waits, method, dc, user_id)
        return None if rule is None else rule.seconds

    def rpc_error_for(self, method: str, dc: int, user_id: int | None) -> RpcErrorRule | None:
        """The rpc_error rule this request meets, with one of its uses spent."""
        return take_rule(self.rpc_errors, method, dc, user_id)

    def corrupts(self, dc: int, file_id: int) -> bool:
        """Whether this getFile answer is to be damaged, spending one use of the rule."""
        for rule in self.corrupt_getfile:
            if rule.dc in (None, dc) and rule.file_id in (None, file_id):
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self.corrupt_getfile.remove(rule)
                return True
        return False

    def hung(self, dc: int) -> bool:
        return self.dcs[dc].hang

    def should_drop(self, dc: int) -> bool:
        p = self.dcs[dc].drop_probability
        return p > 0 and random.random() < p

    def account_line(self, user_id: int) -> Line:
        line = self.account_lines.get(user_id)
        if line is None:
            line = self.account_lines[user_id] = Line()
        return line
