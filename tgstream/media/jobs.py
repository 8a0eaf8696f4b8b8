"""HLS segments made on demand: at most TRANSCODE_SLOTS at once, each once, cached.

A segment is made by a PyAV job in a worker thread (transcode.py) over a RangedReader that
reads the segment's planned bytes straight through, anything else a block at a time.  Made
segments go into the part cache under a key of their own shape (media id, "hls", rendition,
number): in RAM and on the disk tier like parts (a restart does not make them again), and
dropped with the file's parts when the file is gone.  The part cache also gives single
flight (viewers of the same segment share one job) and cancels a job when the last viewer
waiting for it leaves: its reader then fails its next read, and PyAV stops.

A job past the slots waits a little (SLOT_WAIT) in a short line (WAITERS_PER_SLOT per
slot), then is refused (TranscodeBusy -> 503 + Retry-After): right after a seek the slots
are still held by the jobs the player just left, which stop within moments, and a player's
retry after a 503 costs it a second or more.  A longer line would only hold connections
while the CPU is busy.  A slot is given back when the worker thread is really done, not
when its viewer leaves, so the threads at work never outnumber the slots; a freed slot goes
straight to the first in line.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from ..metrics import Metrics
from ..store import FileInfo
from ..streaming.cache import PartCache
from ..streaming.plan import PART_SIZE
from .playlists import Rendition
from .probe import MediaProbe, Unreadable
from .reader import ByteSource, RangedReader
from .segments import Made, Segment

# Seconds a job waits for a slot before it is refused, and how many may wait per slot.
SLOT_WAIT = 2.0
WAITERS_PER_SLOT = 2


class TranscodeBusy(Exception):
    """Every slot is taken: retry after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"every transcode slot is busy, retry in {retry_after} s")
        self.retry_after = retry_after


def make(reader: RangedReader, probe: MediaProbe, rendition: Rendition, segment: Segment) -> Made:
    """Make one segment (blocking, in a worker thread); a failed read, never a cut-off
    segment or a file taken for broken (RangedReader.run)."""

    def job() -> Made:
        # PyAV (26 MB of libraries) is loaded by the first segment made, not at start-up:
        # a server that never transcodes never holds it.
        from . import transcode

        if rendition.kind == "video":
            return transcode.video_segment(reader, probe, segment)
        if rendition.track is None:
            raise ValueError(f"rendition {rendition.name} names no track")
        if rendition.kind == "audio":
            return transcode.audio_segment(reader, probe, segment, rendition.track)
        return transcode.subtitle_segment(reader, probe, segment, rendition.track)

    return reader.run(job)


class SegmentJobs:
    def __init__(
        self,
        files: ByteSource,
        cache: PartCache,
        slots: int,
        metrics: Metrics,
        slot_wait: float = SLOT_WAIT,
    ) -> None:
        if slots < 1:
            raise ValueError("slots must be >= 1")
        self.slot_wait = slot_wait
        # Jobs waiting for a slot, first come first served; a future's result True hands
        # it a slot that is already counted as running.
        self.line: deque[asyncio.Future[bool]] = deque()
        self.files = files
        self.cache = cache
        self.slots = slots
        self.metrics = metrics
        self.pool = ThreadPoolExecutor(slots, thread_name_prefix="transcode")
        self.running = 0
        self.peak = 0
        # Seconds the last jobs took, for Retry-After.
        self.recent = 1.0

    async def segment(
        self, info: FileInfo, probe: MediaProbe, rendition: Rendition, segment: Segment
    ) -> bytes:
        key = (info.media_id, "hls", rendition.name, segment.index)
        return await self.cache.get(key, lambda: self._make(info, probe, rendition, segment))

    def retry_after(self) -> int:
        return max(1, min(30, math.ceil(self.recent)))

    async def _make(
        self, info: FileInfo, probe: MediaProbe, rendition: Rendition, segment: Segment
    ) -> bytes:
        await self._slot()
        return await self._run(info, probe, rendition, segment)

    async def _slot(self) -> None:
        """Take a slot (counted in `running`), waiting in line for one a little; else
        TranscodeBusy."""
        if self.running < self.slots and not self.line:
            self._take()
            return
        if len(self.line) >= self.slots * WAITERS_PER_SLOT or self.slot_wait <= 0:
            self._busy()
        turn: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.line.append(turn)
        try:
            await asyncio.wait_for(asyncio.shield(turn), self.slot_wait)
        except TimeoutError:
            self._leave_line(turn)
            self._busy()
        except asyncio.CancelledError:
            self._leave_line(turn)
            raise
        self._peak()

    def _leave_line(self, turn: asyncio.Future[bool]) -> None:
        if turn.done() and not turn.cancelled():
            # Handed a slot in the same moment it gave up: pass it on.
            self._give_back(None)
            return
        turn.cancel()
        with contextlib.suppress(ValueError):
            self.line.remove(turn)

    def _busy(self) -> None:
        self.metrics.transcode_jobs.labels("busy").inc()
        raise TranscodeBusy(self.retry_after())

    async def _run(
        self, info: FileInfo, probe: MediaProbe, rendition: Rendition, segment: Segment
    ) -> bytes:
        loop = asyncio.get_running_loop()
        # Header and index a block at a time (cached since the probe), the segment's own
        # bytes straight through with read-ahead.
        bulk = (segment.first_byte, segment.stop_byte or info.size)
        began = time.monotonic()
        try:
            reader = RangedReader.over(self.files, info, loop, window=PART_SIZE, bulk=bulk)
            future = self.pool.submit(make, reader, probe, rendition, segment)
        except BaseException:
            self._give_back(None)  # no thread took the slot
            raise
        future.add_done_callback(lambda done: self._finished_soon(loop, done, began))
        try:
            made = await asyncio.wrap_future(future, loop=loop)
        except asyncio.CancelledError:
            reader.abort()
            self.metrics.transcode_jobs.labels("cancelled").inc()
            raise
        except Unreadable:
            self.metrics.transcode_jobs.labels("failed").inc()
            raise
        except Exception:
            reader.abort()
            self.metrics.transcode_jobs.labels("failed").inc()
            raise
        self.metrics.transcode_jobs.labels("made").inc()
        self.metrics.transcode_cpu.labels(rendition.kind).inc(made.cpu_seconds)
        if made.audio_seconds:
            self.metrics.transcoded_audio.inc(made.audio_seconds)
        return made.data

    def _take(self) -> None:
        self.running += 1
        self._peak()

    def _peak(self) -> None:
        self.peak = max(self.peak, self.running)
        self.metrics.transcode_running.set(self.running)
        self.metrics.transcode_peak.set(self.peak)

    def _finished_soon(
        self,
        loop: asyncio.AbstractEventLoop,
        done: concurrent.futures.Future[Made],
        began: float,
    ) -> None:
        # From the worker thread (or at once, for a job cancelled before it started).
        # A closed loop (RuntimeError): the process is stopping.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._give_back, time.monotonic() - began)

    def _give_back(self, seconds: float | None) -> None:
        if seconds is not None:
            self.recent = 0.7 * self.recent + 0.3 * seconds
        while self.line:
            turn = self.line.popleft()
            if not turn.done():
                turn.set_result(True)  # the slot passes on, still counted as running
                return
        self.running -= 1
        self.metrics.transcode_running.set(self.running)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
