"""Fetching one part of a file: the right DC, the least loaded bot, and every outcome
carried out as the failure policy (policy.py) decides: retry, learn the DC, refresh the
reference, recheck the message, sleep, fail over, reset the pool, or give up with the
error the web layer turns into 404, 502 or 503 (an abort once the body has started).

With verification on, every part is checked against Telegram's SHA-256 ranges
(upload.getFileHashes, asked through the same DC, pools and policy) before it is returned:
a part that fails is fetched again, and after VERIFY_TRIES failures the request fails as an
upstream error (502, or an abort once the body has started), so a damaged byte is never
served nor cached."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pyrogram import raw

from ..metrics import Metrics
from ..store import FileInfo
from .bots import BotClient
from .calls import note, terminal
from .dcmap import DcMap
from .errors import FloodWaitTooLong, NoThumbnail, UpstreamRejected
from .flood import FloodPolicy
from .hash_ranges import Coverage, HashRange, cut, holds, mismatch, ranges_of, widen
from .hashes import FileHashes
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
# Fetches of one part that may fail their hash check before the request is given up: a
# damaged answer is rare, the same one twice in a row rarer, three times is not chance.
VERIFY_TRIES = 3
GET_FILE_HASHES = "upload.getFileHashes"
# Parts up to this size are checked on the event loop (SHA-256 of 128 KiB: a fraction of a
# millisecond); larger ones in a thread, where hashlib runs beside the loop.
_HASH_INLINE = 256 * 1024
# A thumbnail is fetched in parts of the largest legal size, and never past a bound: Telegram
# keeps them under 200 kB, so an answer that runs on is not one.
_THUMB_PART = 1 << 20
_MAX_THUMB = 4 << 20

_T = TypeVar("_T")
_A = TypeVar("_A")


@dataclass
class BotWorker:
    bot: BotClient
    registry: DcRegistry


class _NotAnswered(Exception):
    """The answer is not the kind the call returns (not served): retried like a lost one."""


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
        verify: bool = True,
    ) -> None:
        self.workers = list(workers)
        self.resolver = resolver
        self.dcmap = dcmap
        self.flood = flood
        self.metrics = metrics
        self.part_timeout = part_timeout
        # Telegram's hashes of the files' ranges; None: parts are returned unchecked.
        self.hashes = FileHashes(self._file_hashes) if verify else None

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
        """The bytes Telegram returns for this part (short only at the end of the file),
        checked against its hashes when verification is on.
        `urgent` marks a stream's first part: it goes ahead of bulk parts."""
        if self.hashes is None:
            return await self._get_file(info, offset, limit, urgent)
        return await self._verified(self.hashes, info, offset, limit, urgent)

    async def _verified(
        self, hashes: FileHashes, info: FileInfo, offset: int, limit: int, urgent: bool
    ) -> bytes:
        wanted = (offset, limit)
        stop = offset + limit
        for attempt in range(1, VERIFY_TRIES + 1):
            known = hashes.book.coverage(info.media_id, offset, stop)
            request: tuple[int, int] | None
            if isinstance(known, Coverage):
                coverage, request = known, widen(offset, limit, known)
                data = await self._get_file(info, *request, urgent) if request else b""
            else:
                # Both at once: the hashes cost no time on the way to the bytes, and they
                # nearly always show the part needs no wider request.
                coverage, data = await _both(
                    hashes.coverage(info, offset, stop, urgent),
                    self._get_file(info, *wanted, urgent),
                )
                request = wanted
                if not holds(wanted, len(data), coverage):
                    request = widen(offset, limit, coverage)
                    if request is not None:
                        data = await self._get_file(info, *request, urgent)
            if request is None:
                raise UpstreamRejected(
                    f"message {info.message_id}: no getFile request holds the hash ranges of "
                    f"bytes {offset}..{stop - 1}"
                )
            if len(data) <= _HASH_INLINE:
                # A first part is small and a viewer waits on it: hashing it here costs
                # less than the hand-off to a thread and back.
                problem = mismatch(wanted, request, data, coverage)
            else:
                problem = await asyncio.to_thread(mismatch, wanted, request, data, coverage)
            if problem is None:
                return cut(wanted, request[0], data)
            self.metrics.part_mismatches.inc()
            log.warning(
                "a part failed its hash check",
                extra={
                    "message_id": info.message_id,
                    "offset": offset,
                    "limit": limit,
                    "attempt": attempt,
                    "error": problem,
                },
            )
        raise UpstreamRejected(
            f"message {info.message_id}: bytes {offset}..{stop - 1} failed their hash check "
            f"{VERIFY_TRIES} times"
        )

    async def _get_file(self, info: FileInfo, offset: int, limit: int, urgent: bool) -> bytes:
        def query(location: raw.base.InputFileLocation) -> Any:
            return raw.functions.upload.GetFile(location=location, offset=offset, limit=limit)

        def accept(result: Any, dc: int) -> bytes:
            data = getattr(result, "bytes", None)
            if not isinstance(data, bytes):
                raise _NotAnswered(f"no file in the answer: {result!r}"[:200])
            self.metrics.parts_fetched.labels(str(dc)).inc()
            self.metrics.upstream_bytes.labels(str(dc)).inc(len(data))
            return data

        return await self._call(info, GET_FILE, query, accept, urgent)

    async def fetch_thumb(self, info: FileInfo) -> bytes:
        """The document's thumbnail (info.thumb_type), whole: getFile of the document's own
        location with that size type, in 1 MiB parts until a short one (a thumbnail is a
        few kB: one call), under the same failure policy as the document's parts.  Not
        checked against getFileHashes, which covers the document, not its thumbnails."""
        if not info.has_thumb:
            raise NoThumbnail(f"message {info.message_id} has no thumbnail")
        data = bytearray()
        while True:
            offset = len(data)

            def query(location: raw.base.InputFileLocation, at: int = offset) -> Any:
                return raw.functions.upload.GetFile(location=location, offset=at, limit=_THUMB_PART)

            def accept(result: Any, dc: int) -> bytes:
                piece = getattr(result, "bytes", None)
                if not isinstance(piece, bytes):
                    raise _NotAnswered(f"no file in the answer: {result!r}"[:200])
                self.metrics.upstream_bytes.labels(str(dc)).inc(len(piece))
                return piece

            piece = await self._call(info, GET_FILE, query, accept, urgent=True, thumb=True)
            data += piece
            if len(piece) < _THUMB_PART:
                return bytes(data)
            if len(data) >= _MAX_THUMB:
                raise UpstreamRejected(f"message {info.message_id}: the thumbnail never ends")

    async def _file_hashes(self, info: FileInfo, offset: int, urgent: bool) -> list[HashRange]:
        def query(location: raw.base.InputFileLocation) -> Any:
            return raw.functions.upload.GetFileHashes(location=location, offset=offset)

        def accept(result: Any, dc: int) -> list[HashRange]:
            if not isinstance(result, list):
                raise _NotAnswered(f"no hashes in the answer: {result!r}"[:200])
            return ranges_of(result)

        return await self._call(info, GET_FILE_HASHES, query, accept, urgent)

    async def _call(
        self,
        info: FileInfo,
        method: str,
        query: Callable[[raw.base.InputFileLocation], Any],
        accept: Callable[[Any, int], _T],
        urgent: bool,
        thumb: bool = False,
    ) -> _T:
        """One call about a file's content, carried out under the failure policy.  Both
        getFile and getFileHashes answer the same errors for the same reasons (a location on
        another DC, an expired reference, a flood wait), so both follow getFile's rules and
        its flood bench."""
        attempt = 0
        rechecked = False
        while True:
            dc = await self.dcmap.dc_for(info)
            ready = [w.bot.bot_id for w in self.workers if w.bot.ready]
            await self.flood.refresh(*ready, method=GET_FILE)
            worker = await self._pick(dc)
            try:
                return await self._call_with(worker, dc, info, query, accept, urgent, thumb)
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
            note(method, worker.bot.bot_id, outcome, decision)
            action = decision.action
            if action is Action.LEARN_DC:
                assert decision.dc is not None
                await self.dcmap.learn(info.media_id, decision.dc)
            elif action is Action.REFRESH_REFERENCE:
                info = await self.resolver.refresh(info.message_id, info)
            elif action is Action.RECHECK:
                rechecked = True
                info = await self.resolver.recheck(info.message_id)
                if thumb and not info.has_thumb:
                    # Never fall back to the document's own bytes.
                    raise NoThumbnail(f"message {info.message_id} has no thumbnail any more")
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
                if action is Action.NOT_FOUND and thumb:
                    # The thumbnail is refused, not the document: that one stays.
                    raise NoThumbnail(f"message {info.message_id}: {decision.reason}")
                if action is Action.NOT_FOUND:
                    await self.resolver.forget(info)
                    if self.hashes is not None:
                        self.hashes.forget(info.media_id)
                raise terminal(decision, outcome, method, worker.bot.bot_id)

    async def _call_with(
        self,
        worker: BotWorker,
        dc: int,
        info: FileInfo,
        query: Callable[[raw.base.InputFileLocation], Any],
        accept: Callable[[Any, int], _T],
        urgent: bool,
        thumb: bool,
    ) -> _T:
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
                    # The document itself, or (thumb) its thumbnail of that size type.
                    thumb_size=info.thumb_type if thumb else "",
                )
            request = asyncio.ensure_future(
                self._invoke(member, raw.functions.InvokeWithoutUpdates(query=query(location)))
            )

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
        try:
            return accept(result, dc)
        except _NotAnswered as exc:
            # A bad_msg_notification passed through as an answer: the request was not served.
            raise _Failed(ConnectionResetError(str(exc)), 0) from None

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


async def _both(first: Awaitable[_A], second: Awaitable[_T]) -> tuple[_A, _T]:
    """Both results; when one fails, the other is cancelled and the failure raised."""
    one_task, two_task = asyncio.ensure_future(first), asyncio.ensure_future(second)
    tasks: tuple[asyncio.Future[Any], ...] = (one_task, two_task)
    try:
        one, two = await asyncio.gather(one_task, two_task)
    except BaseException:
        for task in tasks:
            task.cancel()
        # Waited for, so that neither's error is left unread.
        await asyncio.wait(tasks)
        for task in tasks:
            if not task.cancelled():
                task.exception()
        raise
    return one, two
