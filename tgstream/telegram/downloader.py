"""Fetching one part of a file: the right DC, the least loaded bot, and every Telegram error
turned into a retry, a wait, a failover or a clear failure."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyrogram import errors, raw

from ..metrics import Metrics
from ..store import FileInfo
from .bots import BotClient
from .dcmap import DcMap
from .errors import FloodWaitTooLong, TelegramUnavailable
from .flood import FloodPolicy
from .registry import DcRegistry, PooledSession
from .resolver import FileResolver

log = logging.getLogger("tgstream.telegram.downloader")

GET_FILE = "upload.getFile"
_MAX_FAILURES = 6
# After a session reconnects, the server resends the answers it already had for it at once;
# a request still unanswered this long after is one the dead connection lost, and Kurigram
# never sends it again, so it would sit out the whole part timeout.
_RESEND_GRACE = 2.0
_WATCH_INTERVAL = 0.25


@dataclass
class BotWorker:
    bot: BotClient
    registry: DcRegistry


class Downloader:
    def __init__(
        self,
        workers: Sequence[BotWorker],
        resolver: FileResolver,
        dcmap: DcMap,
        flood: FloodPolicy,
        metrics: Metrics,
        part_timeout: float = 30.0,
    ) -> None:
        self.workers = list(workers)
        self.resolver = resolver
        self.dcmap = dcmap
        self.flood = flood
        self.metrics = metrics
        self.part_timeout = part_timeout
        self.inflight = 0

    def choose(self, dc: int) -> BotWorker | None:
        """Least loaded bot not benched for getFile, a warm session on the DC breaking ties."""
        usable = [w for w in self.workers if self.flood.blocked_for(w.bot.bot_id, GET_FILE) <= 0]
        if not usable:
            return None
        return min(usable, key=lambda w: (w.bot.load, not w.registry.warm(dc), w.bot.index))

    def _earliest_unblock(self) -> float:
        return min(self.flood.blocked_for(w.bot.bot_id, GET_FILE) for w in self.workers)

    async def fetch(
        self, info: FileInfo, offset: int, limit: int, precise: bool, urgent: bool = False
    ) -> bytes:
        """The bytes Telegram returns for this part (short only at the end of the file).
        `urgent` marks a stream's first part: it goes ahead of bulk parts."""
        failures = 0
        while True:
            dc = self.dcmap.dc_for(info)
            worker = self.choose(dc)
            if worker is None:
                wait = self._earliest_unblock()
                raise FloodWaitTooLong(
                    f"every bot is in a flood wait for {wait:.0f} s", int(wait) + 1
                )
            try:
                return await self._fetch_with(worker, dc, info, offset, limit, precise, urgent)
            except errors.FileMigrate as exc:
                log.info("file migrate", extra={"media_id": info.media_id, "to_dc": exc.value})
                self.metrics.migrations.inc()
                self.dcmap.learn(info.media_id, int(exc.value))
            except errors.FileReferenceExpired:
                self.metrics.reference_refreshes.inc()
                info = await self.resolver.refresh(info.message_id, info)
            except errors.FloodWait as exc:
                seconds = int(exc.value or 1)
                self.metrics.flood_waits.labels(GET_FILE).inc()
                if self.flood.record(worker.bot.bot_id, GET_FILE, seconds):
                    await asyncio.sleep(seconds)
            except errors.AuthKeyUnregistered:
                # _fetch_with already reset the pool the request went through.
                failures += 1
                log.warning("auth key unregistered", extra={"dc": dc})
                if failures >= _MAX_FAILURES:
                    raise TelegramUnavailable(f"DC {dc} keeps refusing our keys") from None
            except (errors.LimitInvalid, errors.OffsetInvalid):
                raise  # a bug in part planning; never retried into a loop
            except (
                OSError,
                TimeoutError,
                ConnectionError,
                errors.InternalServerError,
                errors.ServiceUnavailable,
            ) as exc:
                failures += 1
                self.metrics.part_retries.inc()
                if failures >= _MAX_FAILURES:
                    raise TelegramUnavailable(f"DC {dc} failed: {exc!r}") from None
                await asyncio.sleep(min(0.25 * 2**failures, 4.0))

    async def _fetch_with(
        self,
        worker: BotWorker,
        dc: int,
        info: FileInfo,
        offset: int,
        limit: int,
        precise: bool,
        urgent: bool,
    ) -> bytes:
        worker.bot.load += 1
        try:
            member = await worker.registry.acquire(dc, urgent)
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
                query=raw.functions.upload.GetFile(
                    location=location, offset=offset, limit=limit, precise=precise or None
                )
            )
            request = asyncio.ensure_future(self._invoke(member, query))
            self.inflight += 1

            def answered(task: asyncio.Future[Any]) -> None:
                self.inflight -= 1
                worker.registry.release(dc, member)
                if not task.cancelled():
                    task.exception()  # an abandoned request's error has no reader

            request.add_done_callback(answered)
            try:
                # A viewer who leaves stops waiting, but the request runs on: the answer
                # is coming anyway, and until it is in, its connection is busy with it.
                result = await asyncio.shield(request)
            except errors.AuthKeyUnregistered:
                # Reset the pool this request used: the answers of the other requests
                # in flight on it arrive later and must not reset its successor too.
                await worker.registry.reset(dc, member.generation)
                raise
        finally:
            worker.bot.load -= 1
        data: bytes = result.bytes
        self.metrics.parts_fetched.labels(str(dc)).inc()
        self.metrics.upstream_bytes.labels(str(dc)).inc(len(data))
        return data

    async def _invoke(self, member: PooledSession, query: Any) -> Any:
        """session.invoke, given up early (ConnectionResetError) when its pool was closed,
        or when the connection that carried it was replaced and the new one brought no
        answer within the grace."""
        session = member.session
        request = asyncio.ensure_future(
            session.invoke(query, retries=1, timeout=self.part_timeout, sleep_threshold=0)
        )
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
