"""Fetching one part of a file: the right DC, the least loaded bot, and every outcome
carried out as the failure policy (policy.py) decides: retry, learn the DC, refresh the
reference, recheck the message, sleep, fail over, reset the pool, or give up with the
error the web layer turns into 404, 502 or 503 (an abort once the body has started)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyrogram import raw

from ..metrics import Metrics
from ..store import FileInfo
from .bots import BotClient
from .calls import note, terminal
from .dcmap import DcMap
from .errors import FloodWaitTooLong
from .flood import FloodPolicy
from .outcomes import outcome_of
from .policy import (
    EXPORT_AUTHORIZATION,
    GET_FILE,
    IMPORT_AUTHORIZATION,
    TIMEOUT,
    Action,
    Situation,
    decide,
)
from .registry import DcRegistry, PooledSession
from .resolver import FileResolver

log = logging.getLogger("tgstream.telegram.downloader")

# After a session reconnects, the server resends the answers it already had for it at once;
# a request still unanswered this long after is one the dead connection lost, and Kurigram
# never sends it again, so it would sit out the whole part timeout.
_RESEND_GRACE = 2.0
_WATCH_INTERVAL = 0.25
# One getFile answer is at most 1 MiB; ten seconds without it means the connection (or the
# DC) is in trouble, and its slot is better given back than held.
PART_TIMEOUT = 10.0


@dataclass
class BotWorker:
    bot: BotClient
    registry: DcRegistry


class _Failed(Exception):
    """A getFile that failed, with the pool generation it went through."""

    def __init__(self, cause: Exception, generation: int) -> None:
        super().__init__(repr(cause))
        self.cause = cause
        self.generation = generation


class Downloader:
    def __init__(
        self,
        workers: Sequence[BotWorker],
        resolver: FileResolver,
        dcmap: DcMap,
        flood: FloodPolicy,
        metrics: Metrics,
        part_timeout: float = PART_TIMEOUT,
    ) -> None:
        self.workers = list(workers)
        self.resolver = resolver
        self.dcmap = dcmap
        self.flood = flood
        self.metrics = metrics
        self.part_timeout = part_timeout

    def _wait_for(self, worker: BotWorker, dc: int) -> float:
        """Seconds until this bot may fetch from the DC (0: now)."""
        bot_id = worker.bot.bot_id
        wait = self.flood.blocked_for(bot_id, GET_FILE)
        if not worker.registry.warm(dc):
            # A cold DC needs an export and an import: a bot benched on either waits too.
            for method in (EXPORT_AUTHORIZATION, IMPORT_AUTHORIZATION):
                wait = max(wait, self.flood.blocked_for(bot_id, method))
        return wait

    def _usable(self, worker: BotWorker, dc: int) -> bool:
        return worker.bot.ready and self._wait_for(worker, dc) <= 0

    def choose(self, dc: int, exclude: BotWorker | None = None) -> BotWorker | None:
        """Least loaded usable bot, a warm session on the DC breaking ties."""
        usable = [w for w in self.workers if w is not exclude and self._usable(w, dc)]
        if not usable:
            return None
        return min(usable, key=lambda w: (w.bot.load, not w.registry.warm(dc), w.bot.index))

    async def _pick(self, dc: int) -> BotWorker:
        """A bot for this DC, waiting out a short flood wait when every bot is in one."""
        while True:
            worker = self.choose(dc)
            if worker is not None:
                return worker
            ready = [w for w in self.workers if w.bot.ready]
            if not ready:
                raise FloodWaitTooLong(
                    "no bot is signed in: " + "; ".join(w.bot.state for w in self.workers),
                    min(w.bot.retry_after for w in self.workers),
                )
            wait = min(self._wait_for(w, dc) for w in ready)
            if wait > self.flood.threshold:
                raise FloodWaitTooLong(f"every bot is in a flood wait for {wait:.0f} s", wait)
            await asyncio.sleep(max(wait, 0.05))

    async def fetch(self, info: FileInfo, offset: int, limit: int, urgent: bool = False) -> bytes:
        """The bytes Telegram returns for this part (short only at the end of the file).
        `urgent` marks a stream's first part: it goes ahead of bulk parts."""
        attempt = 0
        rechecked = False
        while True:
            dc = await self.dcmap.dc_for(info)
            ready = [w.bot.bot_id for w in self.workers if w.bot.ready]
            await self.flood.refresh(*ready, method=GET_FILE)
            worker = await self._pick(dc)
            try:
                return await self._fetch_with(worker, dc, info, offset, limit, urgent)
            except _Failed as failed:
                outcome = outcome_of(failed.cause)
                if outcome is None:
                    raise failed.cause from None
                generation = failed.generation
            except Exception as exc:  # pool creation (export/import) already decided
                if isinstance(exc, FloodWaitTooLong) and self.choose(dc, exclude=worker):
                    continue  # this bot cannot reach the DC now; another one can
                raise
            attempt += 1
            other = self.choose(dc, exclude=worker) is not None
            situation = Situation(self.flood.threshold, other, attempt, rechecked)
            decision = decide(GET_FILE, outcome, situation)
            note(GET_FILE, worker.bot.bot_id, outcome, decision)
            action = decision.action
            if action is Action.LEARN_DC:
                assert decision.dc is not None
                await self.dcmap.learn(info.media_id, decision.dc)
            elif action is Action.REFRESH_REFERENCE:
                info = await self.resolver.refresh(info.message_id, info)
            elif action is Action.RECHECK:
                rechecked = True
                info = await self.resolver.recheck(info.message_id)
            elif action in (Action.SLEEP, Action.FAIL_OVER):
                await self.flood.bench(
                    worker.bot.bot_id, GET_FILE, decision.seconds, action is Action.FAIL_OVER
                )
            elif action is Action.RESET_POOL:
                await worker.registry.reset(dc, generation, drop_key=True)
            elif action is Action.RETRY:
                self.metrics.part_retries.inc()
                if outcome == TIMEOUT:
                    # No answer in time: the connections may be hung; new ones, same key.
                    await worker.registry.reset(dc, generation, drop_key=False)
                await asyncio.sleep(decision.seconds)
            else:
                if action is Action.UNAVAILABLE and outcome.code == 420:
                    await self.flood.bench(worker.bot.bot_id, GET_FILE, decision.seconds)
                if action is Action.NOT_FOUND:
                    await self.resolver.forget(info)
                raise terminal(decision, outcome, GET_FILE, worker.bot.bot_id)

    async def _fetch_with(
        self,
        worker: BotWorker,
        dc: int,
        info: FileInfo,
        offset: int,
        limit: int,
        urgent: bool,
    ) -> bytes:
        worker.bot.load += 1
        try:
            try:
                member = await worker.registry.acquire(dc, urgent)
            except ConnectionResetError as exc:
                # The pool was reset while this request queued for a slot: try again.
                raise _Failed(exc, 0) from None
            location: raw.base.InputFileLocation
            if info.is_photo:
                location = raw.types.InputPhotoFileLocation(
                    id=info.media_id,
                    access_hash=info.access_hash,
                    file_reference=info.file_reference,
                    thumb_size=info.thumb_size,
                )
            else:
                location = raw.types.InputDocumentFileLocation(
                    id=info.media_id,
                    access_hash=info.access_hash,
                    file_reference=info.file_reference,
                    thumb_size="",
                )
            query = raw.functions.InvokeWithoutUpdates(
                query=raw.functions.upload.GetFile(location=location, offset=offset, limit=limit)
            )
            request = asyncio.ensure_future(self._invoke(member, query))

            def answered(task: asyncio.Future[Any]) -> None:
                worker.registry.release(dc, member)
                if not task.cancelled():
                    task.exception()  # an abandoned request's error has no reader

            request.add_done_callback(answered)
            try:
                # A viewer who leaves stops waiting, but the request runs on: the answer
                # is coming anyway, and until it is in, its connection is busy with it.
                result = await asyncio.shield(request)
            except Exception as exc:
                # The generation goes with the error: a pool reset it leads to must only
                # reset the pool this request used, never the one built after it.
                raise _Failed(exc, member.generation) from None
        finally:
            worker.bot.load -= 1
        data = getattr(result, "bytes", None)
        if not isinstance(data, bytes):
            # A bad_msg_notification passed through as an answer: the request was not served.
            raise _Failed(ConnectionResetError(f"no file in the answer: {result!r}"[:200]), 0)
        self.metrics.parts_fetched.labels(str(dc)).inc()
        self.metrics.upstream_bytes.labels(str(dc)).inc(len(data))
        return data

    async def _send(self, member: PooledSession, query: Any) -> Any:
        """One try, its outcome as it is: Kurigram's invoke would retry on its own and
        report every failure as a timeout, hiding from the policy what really happened."""
        session = member.session
        if not session.is_started.is_set():
            await asyncio.wait_for(session.is_started.wait(), self.part_timeout)
        return await session.send(query, timeout=self.part_timeout)

    async def _invoke(self, member: PooledSession, query: Any) -> Any:
        """The request, given up early (ConnectionResetError) when its pool was closed, or
        when the connection that carried it was replaced and the new one brought no answer
        within the grace."""
        session = member.session
        request = asyncio.ensure_future(self._send(member, query))
        carrier = session.connection
        reconnected_at: float | None = None
        try:
            while True:
                done, _ = await asyncio.wait({request}, timeout=_WATCH_INTERVAL)
                if done:
                    return request.result()
                if member.closed:
                    raise ConnectionResetError("the session was closed with its pool")
                if reconnected_at is None:
                    if session.connection is not carrier and session.is_started.is_set():
                        reconnected_at = time.monotonic()
                elif time.monotonic() - reconnected_at > _RESEND_GRACE:
                    raise ConnectionResetError("the request was lost with its connection")
        finally:
            if not request.done():
                request.cancel()
                # Waited, not awaited: our own cancellation must still reach the caller.
                await asyncio.wait({request})
