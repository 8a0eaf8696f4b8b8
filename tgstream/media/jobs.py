"""HLS segments made on demand: at most TRANSCODE_SLOTS at once, each once, cached.

A segment is made by a PyAV job in a worker thread (transcode.py) over a RangedReader that
reads the segment's planned bytes straight through, anything else a block at a time.  Made
segments go into the part cache under a key of their own shape (media id, "hls", rendition,
number): RAM only (the disk tier keeps parts), and dropped with the file's parts when the
file is gone.  The part cache also gives single
flight (viewers of the same segment share one job) and cancels a job when the last viewer
waiting for it leaves: its reader then fails its next read, and PyAV stops.

A job past the slots is refused at once (TranscodeBusy -> 503 + Retry-After) rather than
queued: a player retries, and a queue would only hold connections while the CPU is busy.
A slot is given back when the worker thread is really done, not when its viewer leaves, so
the threads at work never outnumber the slots.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import time
from concurrent.futures import ThreadPoolExecutor

from ..metrics import Metrics
from ..store import FileInfo
from ..streaming.cache import PartCache
from ..streaming.plan import PART_SIZE
from .inspect import Unreadable
from .playlists import Rendition
from .probe import MediaProbe
from .reader import ByteSource, RangedReader
from .segments import Segment
from .transcode import Made, audio_segment, subtitle_segment, video_segment


class TranscodeBusy(Exception):
    """Every slot is taken: retry after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"every transcode slot is busy, retry in {retry_after} s")
        self.retry_after = retry_after


def make(reader: RangedReader, probe: MediaProbe, rendition: Rendition, segment: Segment) -> Made:
    """Make one segment (blocking, in a worker thread)."""
    try:
        try:
            if rendition.kind == "video":
                made = video_segment(reader, probe, segment)
            elif rendition.track is None:
                raise ValueError(f"rendition {rendition.name} names no track")
            elif rendition.kind == "audio":
                made = audio_segment(reader, probe, segment, rendition.track)
            else:
                made = subtitle_segment(reader, probe, segment, rendition.track)
        except Unreadable:
            reader.check()  # a failed read is not a broken file
            raise
        # FFmpeg may have taken a failed read for the end: never a cut-off segment.
        reader.check()
        return made
    finally:
        reader.close()


class SegmentJobs:
    def __init__(self, files: ByteSource, cache: PartCache, slots: int, metrics: Metrics) -> None:
        if slots < 1:
            raise ValueError("slots must be >= 1")
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
        if self.running >= self.slots:
            self.metrics.transcode_jobs.labels("busy").inc()
            raise TranscodeBusy(self.retry_after())
        loop = asyncio.get_running_loop()
        # Header and index a block at a time (cached since the probe), the segment's own
        # bytes straight through with read-ahead.
        bulk = (segment.first_byte, segment.stop_byte or info.size)
        reader = RangedReader.over(self.files, info, loop, window=PART_SIZE, bulk=bulk)
        self._take()
        began = time.monotonic()
        future = self.pool.submit(make, reader, probe, rendition, segment)
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

    def _give_back(self, seconds: float) -> None:
        self.running -= 1
        self.metrics.transcode_running.set(self.running)
        self.recent = 0.7 * self.recent + 0.3 * seconds

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
