"""Signing the bots in without ever making a flood worse.

Each bot signs in in its own task, so a flooded extra bot never holds up the main one, but
the sign-in calls themselves go one at a time (parallel logins are what trips login
floods).  A FLOOD_WAIT of any length is waited out, with its deadline persisted, so a
restart during the wait calls nothing before it ends; the bots that are up serve meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ..store import SharedStateDown
from .bots import BotClient
from .flood import FloodPolicy
from .outcomes import outcome_of
from .policy import CONNECTION_LOST, SIGN_IN, Action, Outcome, Situation, decide

log = logging.getLogger("tgstream.telegram.startup")

_MAX_BACKOFF = 30.0


async def keep_signing_in(
    bot: BotClient,
    flood: FloodPolicy,
    turn: asyncio.Lock,
    on_refused: Callable[[BotClient, str], None],
) -> None:
    """Until the bot is signed in, or Telegram refuses its credentials for good."""
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
        async with turn:
            try:
                await bot.start()
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
                if found is None:
                    # Kurigram can fail oddly when Telegram is unreachable (a KeyError on
                    # its DC table): still a reason to try again, never to crash.
                    log.warning("sign-in failed oddly", extra={"error": repr(exc)})
                    found = Outcome(CONNECTION_LOST.code, type(exc).__name__.upper())
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
        backoff = min(2.0**failures, _MAX_BACKOFF)
        bot.problem = f"cannot reach Telegram ({outcome.message})"
        bot.waiting_until = time.monotonic() + backoff
        log.warning(
            "sign-in failed, retrying",
            extra={"bot_id": bot.bot_id, "error": outcome.message, "retry_in": backoff},
        )
        await asyncio.sleep(backoff)
