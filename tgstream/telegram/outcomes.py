"""Kurigram's exceptions turned into the policy's plain outcomes."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pyrogram import errors

from .policy import CONNECTION_LOST, TIMEOUT, Outcome

_T = TypeVar("_T")

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


async def attempt(invoke: Callable[[], Awaitable[_T]]) -> _T | Outcome:
    """The call's result, or the outcome it failed with; anything not Telegram's is raised."""
    try:
        return await invoke()
    except Exception as exc:
        outcome = outcome_of(exc)
        if outcome is None:
            raise
        return outcome
