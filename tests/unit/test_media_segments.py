"""Segment planning from keyframes: every plan covers the file's time without gap or
overlap, cuts only at keyframes, and bounds each job's bytes around its segment."""

from __future__ import annotations

import itertools
import math

from hypothesis import given
from hypothesis import strategies as st

from tgstream.media.probe import Keyframe, MediaProbe, Track
from tgstream.media.segments import (
    READ_PAST,
    SHORTEST_LAST,
    TARGET,
    Segment,
    plan_segments,
    target_duration,
)

VIDEO = (Track(0, "video", "h264", "avc1.64001f"),)


def probe(duration: float, keyframes: list[Keyframe], start: float = 0.0) -> MediaProbe:
    return MediaProbe("matroska,webm", "video/x-matroska", duration, start, VIDEO, tuple(keyframes))


def regular(duration: float, every: float, bytes_per_second: int) -> list[Keyframe]:
    count = math.ceil(duration / every)
    return [Keyframe(n * every, 1000 + round(n * every * bytes_per_second)) for n in range(count)]


def test_two_second_keyframes_make_six_second_segments() -> None:
    keys = regular(30, 2, 100_000)
    size = 1000 + 30 * 100_000
    segments = plan_segments(probe(30, keys), size)
    assert [(s.start, s.end) for s in segments] == [(0, 6), (6, 12), (12, 18), (18, 24), (24, 30)]
    assert [s.first_byte for s in segments] == [0, 601_000, 1_201_000, 1_801_000, 2_401_000]
    assert [s.stop_byte for s in segments] == [
        min(size, p + READ_PAST) for p in (601_000, 1_201_000, 1_801_000, 2_401_000)
    ] + [size]
    assert [s.last for s in segments] == [False] * 4 + [True]
    assert target_duration(segments) == 6


def test_a_short_tail_joins_the_segment_before() -> None:
    keys = regular(12.5, 2, 1000)
    segments = plan_segments(probe(12.5, keys), 20_000)
    # A cut at 12 would leave 0.5 s alone.
    assert [(s.start, s.end) for s in segments] == [(0, 6), (6, 12.5)]


def test_without_keyframes_segments_are_timed_and_unbounded() -> None:
    audio_only = MediaProbe("mp3", "audio/mpeg", 14.0, 0.0, (), ())
    segments = plan_segments(audio_only, 10_000)
    assert [(s.start, s.end) for s in segments] == [(0, 6), (6, 12), (12, 14)]
    assert [s.stop_byte for s in segments] == [None, None, 10_000]


def test_unknown_positions_leave_the_job_unbounded() -> None:
    keys = [Keyframe(float(t), -1) for t in range(0, 20, 2)]
    segments = plan_segments(probe(20, keys), 5000)
    assert all(s.stop_byte is None for s in segments[:-1]) and segments[-1].stop_byte == 5000
    assert all(s.first_byte == 0 for s in segments)


def test_nothing_to_plan() -> None:
    assert plan_segments(probe(0, []), 1000) == []
    assert plan_segments(probe(10, regular(10, 2, 10)), 0) == []
    assert target_duration([]) == 1


def test_a_file_starting_late_starts_its_first_segment_there() -> None:
    keys = [Keyframe(1.4 + 2 * n, 100 * n) for n in range(10)]
    segments = plan_segments(probe(20, keys, start=1.4), 10_000)
    assert segments[0].start == 1.4 and math.isclose(segments[-1].end, 21.4)


def test_keyframes_beyond_the_end_are_ignored() -> None:
    keys = [*regular(10, 2, 100), Keyframe(50, 9999)]
    segments = plan_segments(probe(10, keys), 10_000)
    assert segments[-1].end == 10 and all(s.start < 10 for s in segments)


keyframe_lists = st.lists(
    st.tuples(st.floats(0.01, 20, allow_nan=False), st.integers(1, 5_000_000)), max_size=80
)


@given(
    duration=st.floats(0.5, 600, allow_nan=False),
    gaps=keyframe_lists,
    size=st.integers(1, 10**9),
    known=st.booleans(),
)
def test_any_plan_covers_the_file_at_keyframes(
    duration: float, gaps: list[tuple[float, int]], size: int, known: bool
) -> None:
    keys = [Keyframe(0.0, 0)]
    for gap, length in gaps:
        last = keys[-1]
        keys.append(Keyframe(last.time + gap, last.position + length if known else -1))
    segments = plan_segments(probe(duration, keys), size)
    assert segments, "a file with a duration has segments"
    assert segments[0].start == 0 and math.isclose(segments[-1].end, duration)
    times = {k.time for k in keys}
    for one, two in itertools.pairwise(segments):
        assert one.end == two.start, "no gap, no overlap"
        assert two.start in times, "cut at a keyframe"
        assert one.stop_byte is None or one.first_byte <= one.stop_byte <= size
    _check_each(segments, size)
    # Cutting only where the target is reached: a plan never has two cuts closer than that.
    assert all(s.duration >= TARGET - 1e-6 for s in segments[:-1])
    if len(segments) > 1:
        assert segments[-1].duration >= SHORTEST_LAST - 1e-6


def _check_each(segments: list[Segment], size: int) -> None:
    assert [s.index for s in segments] == list(range(len(segments)))
    assert [s.last for s in segments] == [False] * (len(segments) - 1) + [True]
    assert segments[-1].stop_byte == size
    for segment in segments:
        assert 0 <= segment.first_byte <= size and segment.duration > 0
    assert target_duration(segments) >= max(s.duration for s in segments) - 0.5
