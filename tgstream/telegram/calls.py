"""One Telegram call carried out under the failure policy.

For the calls that need no per-call state of their own (message fetches, export/import of
authorizations, sign-in, the bot's replies): a flood deadline already known is honoured
before calling, short waits and transient failures are retried here, and every other
decision ends the call with the exception the layers above understand.  upload.getFile has
its own loop in the downloader, since its actions (learn the DC, refresh the reference,
reset a pool) act on streaming state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .errors import BotRefused, FileGone, FloodWaitTooLong, TelegramUnavailable, UpstreamRejected
from .flood import FloodPolicy
from .outcomes import attempt
from .policy import Action, Decision, Outcome, Situation, decide

log = logging.getLogger("tgstream.telegram.calls")

_T = TypeVar("_T")


class FailOver(TelegramUnavailable):
    """This bot may not make the call now (benched); another bot may."""


async def honour_bench(flood: FloodPolicy, bot_id: int, method: str) -> None:
    """Wait out a known short deadline; refuse at once when it is long."""
    wait = flood.blocked_for(bot_id, method)
    if wait > flood.threshold:
        raise FloodWaitTooLong(f"bot {bot_id}: FLOOD_WAIT on {method}, {wait:.0f} s left", wait)
    if wait > 0:
        await asyncio.sleep(wait)


def terminal(decision: Decision, outcome: Outcome, method: str, bot_id: int) -> Exception:
    """The exception that ends a call on a decision no retry can serve."""
    what = f"bot {bot_id}: {method}: {decision.reason}"
    if decision.action is Action.NOT_FOUND:
        return FileGone(what)
    if decision.action is Action.ABORT:
        return UpstreamRejected(what)
    if decision.action is Action.DISABLE_BOT:
        return BotRefused(what)
    if decision.action is Action.FAIL_OVER:
        return FailOver(what, decision.seconds)
    if outcome.code == 420:
        return FloodWaitTooLong(what, decision.seconds)
    return TelegramUnavailable(what, decision.seconds)


async def call(
    method: str,
    bot_id: int,
    invoke: Callable[[], Awaitable[_T]],
    flood: FloodPolicy,
    other_bot: Callable[[], bool] = lambda: False,
    observe: Callable[[Outcome, Decision], None] | None = None,
) -> _T:
    failures = 0
    while True:
        await flood.refresh(bot_id, method=method)
        await honour_bench(flood, bot_id, method)
        outcome = await attempt(invoke)
        if not isinstance(outcome, Outcome):
            return outcome
        failures += 1
        decision = decide(method, outcome, Situation(flood.threshold, other_bot(), failures))
        note(method, bot_id, outcome, decision)
        if observe is not None:
            observe(outcome, decision)
        if decision.action in (Action.SLEEP, Action.FAIL_OVER) or (
            decision.action is Action.UNAVAILABLE and outcome.code == 420
        ):
            await flood.bench(bot_id, method, decision.seconds, decision.action is Action.FAIL_OVER)
        if decision.action is Action.SLEEP:
            continue  # honour_bench sleeps it out
        if decision.action is Action.RETRY:
            await asyncio.sleep(decision.seconds)
            continue
        raise terminal(decision, outcome, method, bot_id)


def note(method: str, bot_id: int, outcome: Outcome, decision: Decision) -> None:
    log.warning(
        "telegram call failed",
        extra={
            "method": method,
            "bot_id": bot_id,
            "error": f"{outcome.code} {outcome.message}",
            "action": decision.action.value,
            "seconds": decision.seconds or None,
        },
    )
