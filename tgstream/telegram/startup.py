"""Signing the bots in without ever making a flood worse.

Each bot signs in in its own task, so a flooded extra bot never holds up the main one, but
the sign-in calls themselves go one at a time (parallel logins are what trips login
floods).  A FLOOD_WAIT of any length is waited out, with its deadline persisted, so a
restart during the wait calls nothing before it ends; the bots that are up serve meanwhile.

Telegram out of reach (no network, a DC down, a firewall that closes connections) is retried
with a backoff that doubles up to a cap, one log line per attempt.  Kurigram would say so in
several lines of its own per attempt (each connection try, each retry of its handshake) and
words an answerless connection as ``KeyError: 0``: while a bot signs in, its connection
and session loggers' warnings are held back and their gist goes into that one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from ..store import SharedStateDown
from .bots import BotClient
from .flood import FloodPolicy
from .outcomes import outcome_of
from .policy import CONNECTION_LOST, SIGN_IN, Action, Outcome, Situation, decide

log = logging.getLogger("tgstream.telegram.startup")

_MAX_BACKOFF = 30.0
# Kurigram's modules whose warnings during a sign-in are the attempt's, not news of their own.
_KURIGRAM_NETWORK = ("pyrogram.connection", "pyrogram.session")
_OS_ERROR = re.compile(r"\[Errno [0-9]+\] (.+)")


# One attempt may take this long: a sign-in is a few round trips; a connection that
# accepts and then says nothing must not hold the bot for ever.
_ATTEMPT_TIMEOUT = 30.0


@dataclass
class _Attempt:
    """One sign-in attempt in progress: Kurigram's network words while it lasts."""

    active: bool = True
    last_network_error: str | None = None
    # Set when a connection of the attempt failed: Kurigram, holding a session already,
    # would retry it in the background for ever and leave `start()` waiting.
    unreachable: asyncio.Event = field(default_factory=asyncio.Event)


# The attempt of the task that logs (tasks Kurigram starts meanwhile inherit it, and hear
# it end: `active` is shared, not copied).
_attempt: ContextVar[_Attempt | None] = ContextVar("tgstream_sign_in_attempt", default=None)


class _HeldBack(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        attempt = _attempt.get()
        if attempt is None or not attempt.active or record.levelno < logging.WARNING:
            return True
        found = _OS_ERROR.search(record.getMessage())
        if found:
            attempt.last_network_error = found.group(1)
            attempt.unreachable.set()
        return False


_HELD_BACK = _HeldBack()


def _hold_back_kurigram_network_logs() -> None:
    # A logger's filters see only what is logged to it, not its children's records: each
    # of Kurigram's module loggers gets the filter (they exist once Kurigram is imported).
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(_KURIGRAM_NETWORK):
            logger = logging.getLogger(name)
            if _HELD_BACK not in logger.filters:
                logger.addFilter(_HELD_BACK)


@contextlib.contextmanager
def _one_attempt() -> Iterator[_Attempt]:
    attempt = _Attempt()
    token = _attempt.set(attempt)
    try:
        yield attempt
    finally:
        attempt.active = False
        _attempt.reset(token)


async def _start_within(bot: BotClient, attempt: _Attempt) -> None:
    """`bot.start()`, ended early (ConnectionError, TimeoutError) when its connection failed
    or when it takes longer than an attempt may; what it left running is stopped."""
    start = asyncio.ensure_future(bot.start())  # a task of this attempt's context
    cut = asyncio.ensure_future(attempt.unreachable.wait())
    try:
        done, _ = await asyncio.wait(
            {start, cut}, timeout=_ATTEMPT_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if start in done:
            start.result()
            return
    finally:
        cut.cancel()
        if not start.done():
            start.cancel()
            with contextlib.suppress(BaseException):
                await start
    # Kurigram's session would go on reconnecting: stop it before the next attempt (still
    # inside the attempt, so its last words are held back too).
    if bot.client.is_connected:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(bot.client.disconnect(), _ATTEMPT_TIMEOUT)
    if attempt.unreachable.is_set():
        raise ConnectionError("Telegram refused or dropped the connection")
    raise TimeoutError(f"no sign-in within {_ATTEMPT_TIMEOUT:g} s")


def unreachable_reason(exc: BaseException, network_error: str | None) -> str:
    """What to tell the operator about an attempt that never got Telegram's answer."""
    if network_error is not None:
        return network_error
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, (ConnectionError, EOFError)) or not isinstance(exc, OSError):
        # Kurigram reads a connection closed before any answer as a KeyError on its table
        # of constructors; its ConnectionError after retries keeps no cause either.
        return "connection closed without an answer"
    return exc.strerror or type(exc).__name__


def retry_delay(failures: int) -> float:
    """Seconds before attempt `failures + 1`: 2, 4, 8, ... up to the cap."""
    return min(2.0 ** min(failures, 16), _MAX_BACKOFF)


async def keep_signing_in(
    bot: BotClient,
    flood: FloodPolicy,
    turn: asyncio.Lock,
    on_refused: Callable[[BotClient, str], None],
) -> None:
    """Until the bot is signed in, or Telegram refuses its credentials for good."""
    _hold_back_kurigram_network_logs()
    failures = 0
    outcome: Outcome | None
    while True:
        await flood.refresh(bot.bot_id, method=SIGN_IN)
        wait = flood.blocked_for(bot.bot_id, SIGN_IN)
        if wait > 0:
            bot.problem = "FLOOD_WAIT on sign-in"
            bot.waiting_until = time.monotonic() + wait
            log.warning(
                "waiting out a flood wait before signing in",
                extra={"bot_id": bot.bot_id, "seconds": round(wait)},
            )
            await asyncio.sleep(wait)
            continue
        bot.waiting_until = None
        bot.problem = "signing in"
        reason: str | None = None
        async with turn:
            try:
                with _one_attempt() as attempt:
                    await _start_within(bot, attempt)
            except SharedStateDown as exc:
                # The bot's session is in the shared store: without it, signing in would
                # be a new login; wait for the store instead, and say so.
                failures += 1
                backoff = min(float(failures), exc.retry_after)
                bot.problem = f"waiting for the shared state ({exc.where}: {exc.cause})"
                bot.waiting_until = time.monotonic() + backoff
                log.warning("waiting for the shared state", extra={"bot_id": bot.bot_id})
                outcome = None
            except Exception as exc:
                found = outcome_of(exc)
                if found is None or isinstance(exc, (OSError, TimeoutError, EOFError)):
                    # Not Telegram's answer: Telegram was out of reach (Kurigram fails oddly
                    # then, a KeyError among others), a reason to try again, never to crash.
                    reason = unreachable_reason(exc, attempt.last_network_error)
                    found = found or Outcome(CONNECTION_LOST.code, type(exc).__name__.upper())
                outcome = found
            else:
                bot.ready = True
                return
        if outcome is None:
            await asyncio.sleep(bot.retry_after)
            continue
        failures += 1
        decision = decide(SIGN_IN, outcome, Situation(flood.threshold))
        if outcome.code == 420:
            await flood.bench(bot.bot_id, SIGN_IN, decision.seconds)
            continue
        if decision.action in (Action.DISABLE_BOT, Action.ABORT, Action.NOT_FOUND):
            bot.problem = f"refused by Telegram ({outcome.message})"
            bot.refused = True
            log.error(
                "Telegram refuses the bot",
                extra={"bot_id": bot.bot_id, "error": f"{outcome.code} {outcome.message}"},
            )
            on_refused(bot, outcome.message)
            return
        # Unreachable, timing out, or a DC in trouble: try again, less and less often.
        wait = retry_delay(failures)
        if reason is not None:
            bot.problem = f"cannot reach Telegram ({reason}), attempt {failures} failed"
            message = "cannot reach Telegram, retrying"
        else:
            bot.problem = f"Telegram failed the sign-in ({outcome.message}), attempt {failures}"
            message = "sign-in failed, retrying"
        bot.waiting_until = time.monotonic() + wait
        log.warning(
            message,
            extra={
                "bot_id": bot.bot_id,
                "attempt": failures,
                "error": reason or outcome.message,
                "retry_in": wait,
            },
        )
        await asyncio.sleep(wait)
