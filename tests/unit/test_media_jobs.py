"""Segment jobs: one job per segment however many wait, made once then cached, refused past
the slots, and a job nobody waits for any more stopped, its slot given back only when its
worker thread is really done."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.support import media_files
from tests.support.memory_files import MemoryFiles, file_info
from tgstream.media.jobs import SLOT_WAIT, WAITERS_PER_SLOT, SegmentJobs, TranscodeBusy
from tgstream.media.playlists import Rendition
from tgstream.media.probe import MediaProbe
from tgstream.media.probing import MediaProbes
from tgstream.media.segments import Segment, plan_segments
from tgstream.metrics import Metrics
from tgstream.store import FileInfo, SqliteStore
from tgstream.streaming.cache import PartCache

AUDIO = Rendition("audio", 1)


class Setup:
    def __init__(
        self,
        files: MemoryFiles,
        info: FileInfo,
        probe: MediaProbe,
        slots: int,
        slot_wait: float = SLOT_WAIT,
    ) -> None:
        self.files = files
        self.info = info
        self.probe = probe
        self.metrics = Metrics()
        self.jobs = SegmentJobs(files, PartCache(64 << 20), slots, self.metrics, slot_wait)
        self.segments: list[Segment] = plan_segments(probe, info.size)

    def count(self, outcome: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "tgstream_transcode_jobs_total", {"outcome": outcome}
        )
        return 0.0 if value is None else value


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    base = tmp_path_factory.mktemp("jobs")
    return media_files.mkv_h264_ac3(base / "f.mkv", seconds=24).path.read_bytes()


async def setup(
    tmp_path: Path, film: bytes, slots: int, delay: float = 0.0, slot_wait: float = SLOT_WAIT
) -> Setup:
    files = MemoryFiles()
    info = files.add(file_info(1, len(film), "video/x-matroska", "f.mkv"), film)
    store = SqliteStore(tmp_path)
    probe = await MediaProbes(files, store).require(info)
    await store.close()
    files.first_piece_delay = delay
    return Setup(files, info, probe, slots, slot_wait)


async def test_viewers_of_one_segment_share_one_job_and_then_the_cache(
    tmp_path: Path, film: bytes
) -> None:
    s = await setup(tmp_path, film, slots=1)
    segment = s.segments[1]
    made = await asyncio.gather(
        *(s.jobs.segment(s.info, s.probe, AUDIO, segment) for _ in range(4))
    )
    assert len(set(made)) == 1 and len(made[0]) > 0
    again = await s.jobs.segment(s.info, s.probe, AUDIO, segment)
    assert again == made[0]
    assert s.count("made") == 1 and s.count("busy") == 0


async def test_past_the_slots_a_job_is_refused_with_a_retry_after(
    tmp_path: Path, film: bytes
) -> None:
    s = await setup(tmp_path, film, slots=1, delay=0.3, slot_wait=0.0)
    first = asyncio.create_task(s.jobs.segment(s.info, s.probe, AUDIO, s.segments[0]))
    await asyncio.sleep(0.05)
    with pytest.raises(TranscodeBusy) as busy:
        await s.jobs.segment(s.info, s.probe, AUDIO, s.segments[1])
    assert 1 <= busy.value.retry_after <= 30
    assert await first
    assert s.count("busy") == 1 and s.count("made") == 1
    assert s.jobs.peak == 1 and s.jobs.running == 0


async def test_a_job_nobody_waits_for_stops_and_gives_its_slot_back_when_done(
    tmp_path: Path, film: bytes
) -> None:
    s = await setup(tmp_path, film, slots=1, delay=0.3)
    viewer = asyncio.create_task(s.jobs.segment(s.info, s.probe, AUDIO, s.segments[2]))
    await asyncio.sleep(0.1)
    assert s.jobs.running == 1
    viewer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await viewer
    # The worker thread is still in its read: the slot stays taken until it ends.
    deadline = time.monotonic() + 10
    while s.jobs.running and time.monotonic() < deadline:  # noqa: ASYNC110 (another thread)
        await asyncio.sleep(0.05)
    assert s.jobs.running == 0 and s.count("cancelled") == 1
    # Nothing half-made was cached: asked again, it is made.
    s.files.first_piece_delay = 0.0
    assert await s.jobs.segment(s.info, s.probe, AUDIO, s.segments[2])
    assert s.count("made") == 1


async def test_a_job_past_the_slots_waits_in_line_and_takes_the_next_free_slot(
    tmp_path: Path, film: bytes
) -> None:
    # As after a seek: the slot is held by a job about to end; the next job waits for it
    # rather than answer 503.
    s = await setup(tmp_path, film, slots=1, delay=0.3, slot_wait=60.0)
    first = asyncio.create_task(s.jobs.segment(s.info, s.probe, AUDIO, s.segments[0]))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(s.jobs.segment(s.info, s.probe, AUDIO, s.segments[1]))
    await asyncio.sleep(0.05)
    assert s.jobs.running == 1 and len(s.jobs.line) == 1
    assert await first and await second
    assert s.count("busy") == 0 and s.count("made") == 2
    assert s.jobs.peak == 1 and s.jobs.running == 0 and not s.jobs.line


async def test_a_full_line_and_a_long_wait_are_refused(tmp_path: Path, film: bytes) -> None:
    s = await setup(tmp_path, film, slots=1, delay=2.0, slot_wait=0.5)
    first = asyncio.create_task(s.jobs.segment(s.info, s.probe, AUDIO, s.segments[0]))
    await asyncio.sleep(0.05)
    waiting = [
        asyncio.create_task(s.jobs.segment(s.info, s.probe, AUDIO, s.segments[1 + n]))
        for n in range(WAITERS_PER_SLOT)
    ]
    await asyncio.sleep(0.05)
    # The line is full: the next is refused at once.
    with pytest.raises(TranscodeBusy):
        await s.jobs.segment(s.info, s.probe, AUDIO, s.segments[1 + WAITERS_PER_SLOT])
    # Those in line give up after slot_wait, the slot still held.
    for task in waiting:
        with pytest.raises(TranscodeBusy):
            await task
    assert s.count("busy") == 1 + WAITERS_PER_SLOT and not s.jobs.line
    assert await first
    assert s.jobs.peak == 1 and s.jobs.running == 0


async def test_a_viewer_who_leaves_the_line_takes_no_slot(tmp_path: Path, film: bytes) -> None:
    s = await setup(tmp_path, film, slots=1, delay=0.3, slot_wait=60.0)
    first = asyncio.create_task(s.jobs.segment(s.info, s.probe, AUDIO, s.segments[0]))
    await asyncio.sleep(0.05)
    leaver = asyncio.create_task(s.jobs.segment(s.info, s.probe, AUDIO, s.segments[1]))
    await asyncio.sleep(0.05)
    leaver.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaver
    await asyncio.sleep(0.05)  # the cache cancels the job once its last viewer is gone
    assert not s.jobs.line
    assert await first
    assert s.jobs.running == 0 and s.count("made") == 1
