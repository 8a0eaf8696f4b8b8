"""Kurigram's exceptions turned into the policy's plain outcomes."""

from __future__ import annotations

import re

from pyrogram import errors

from .policy import CONNECTION_LOST, TIMEOUT, Outcome

# Kurigram words an error its table does not know as "[420 SOME_ERROR_3]".
_UNKNOWN = re.compile(r"\[(-?\d+) ([A-Z0-9_]+)\]")


def outcome_of(exc: BaseException) -> Outcome | None:
    """The outcome an exception stands for; None when it is not Telegram's doing (a bug)."""
    if isinstance(exc, errors.RPCError):
        value = exc.value
        if isinstance(value, str):
            unknown = _UNKNOWN.search(value)
            if unknown:
                return Outcome(int(unknown.group(1)), unknown.group(2))
        code = int(exc.CODE or 0)
        name = str(exc.ID or exc.NAME or "UNKNOWN")
        if isinstance(value, int) and "_X" in name:
            name = name.replace("_X", f"_{value}", 1)
        return Outcome(code, name)
    if isinstance(exc, TimeoutError):
        return TIMEOUT
    if isinstance(exc, (OSError, ConnectionError, EOFError)):
        return CONNECTION_LOST
    return None
