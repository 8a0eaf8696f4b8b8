"""HLS segments of a file, planned from its probe: pure, no I/O.

Segments are cut at keyframes (a video segment must start with one), about TARGET seconds
each, the last one running to the end.  Each carries the byte range a job reads for it,
from the keyframes' positions: from its first keyframe's position to a little past the
keyframe that ends it (the demuxer has to see that keyframe to know the segment is over,
and audio stored beside it belongs to the segment).  A seek to any point of a film thus
reads the parts around that point, not the film.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .probe import Keyframe, MediaProbe

TARGET = 6.0
"""Seconds per segment, about: a seek costs at most this much to make, and a playlist of a
two-hour film stays some 1200 lines."""
# A last piece shorter than this joins the segment before it.
SHORTEST_LAST = 1.0
# Read this far past the keyframe that ends a segment: the packets stored just after it
# with earlier times (B-frames, audio interleaved by decoding time) are the segment's.
READ_PAST = 1 << 20


@dataclass
class Made:
    """A segment's bytes and what making it cost."""

    data: bytes
    cpu_seconds: float = 0.0
    audio_seconds: float = 0.0  # of audio transcoded


@dataclass(frozen=True, slots=True)
class Segment:
    index: int
    start: float  # seconds, the file's own timeline
    end: float
    first_byte: int  # where its first keyframe's data starts (0 if unknown)
    stop_byte: int | None  # where the job's straight read ends; None: unknown (the end)
    last: bool

    @property
    def duration(self) -> float:
        return self.end - self.start


def plan_segments(probe: MediaProbe, size: int, target: float = TARGET) -> list[Segment]:
    """The segments of a `size`-byte file with this probe; [] when it has no duration."""
    begin = probe.start_time
    end = begin + probe.duration
    if probe.duration <= 0 or size <= 0 or target <= 0:
        return []
    keys = [k for k in probe.keyframes if begin - 1e-6 <= k.time < end]
    cuts = _cuts(keys, begin, end, target)
    segments = []
    for number, (cut, following) in enumerate(zip(cuts, [*cuts[1:], None], strict=True)):
        seg_end = end if following is None else following.time
        first = max(cut.position, 0) if number else 0
        if following is None:
            stop: int | None = size
        elif following.position >= 0:
            stop = min(size, following.position + READ_PAST)
        else:
            stop = None
        segments.append(
            Segment(
                index=number,
                start=begin if number == 0 else cut.time,
                end=seg_end,
                first_byte=min(first, size),
                stop_byte=stop,
                last=following is None,
            )
        )
    return segments


def _cuts(keys: list[Keyframe], begin: float, end: float, target: float) -> list[Keyframe]:
    """Where segments start: the first at the beginning, then the first keyframe at least
    `target` after the last cut; without keyframes (audio only), every `target` seconds,
    where a seek lands wherever the demuxer puts it."""
    if not keys:
        count = max(1, math.ceil((end - begin) / target - 1e-9))
        cuts = [Keyframe(begin + n * target, -1) for n in range(count)]
    else:
        cuts = [Keyframe(begin, keys[0].position if keys[0].time <= begin + 1e-6 else -1)]
        for key in keys:
            if key.time - cuts[-1].time >= target - 1e-6:
                cuts.append(key)
    if len(cuts) > 1 and end - cuts[-1].time < SHORTEST_LAST:
        cuts.pop()
    return cuts


def target_duration(segments: list[Segment]) -> int:
    """EXT-X-TARGETDURATION: the longest segment, rounded to the nearest second (RFC 8216
    4.3.3.1 holds each EXTINF rounded to the nearest integer to it)."""
    return max((math.floor(s.duration + 0.5) for s in segments), default=1) or 1
