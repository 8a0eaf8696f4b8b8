"""The demo's sample video: what a browser needs to play and seek it, checked by decoding it."""

from __future__ import annotations

import pathlib
import struct

import av
import pytest
from av.video.frame import VideoFrame

from tgemu.demo import sample
from tgemu.demo.sample import cached_sample, make_sample_video, sample_name

SECONDS = 3
WIDTH = 640
HEIGHT = 360
FPS = 24


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("sample") / "sample.mp4"
    return make_sample_video(path, SECONDS, WIDTH, HEIGHT, FPS)


def _top_level_boxes(path: pathlib.Path) -> list[str]:
    boxes = []
    data = path.read_bytes()
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:  # 64-bit size follows the type
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
        elif size == 0:  # box runs to the end of the file
            size = len(data) - pos
        boxes.append(kind.decode("latin-1"))
        assert size >= 8, f"corrupt box {kind!r} at {pos}"
        pos += size
    assert pos == len(data)
    return boxes


def _clock_region(frame: VideoFrame) -> bytes:
    # The clock is centred a little above the middle; this box lies inside its dark panel.
    plane = frame.planes[0]
    data = bytes(plane)
    x0, x1 = WIDTH // 4, WIDTH * 3 // 4
    rows = range(HEIGHT * 3 // 10, HEIGHT * 6 // 10)
    return b"".join(data[y * plane.line_size + x0 : y * plane.line_size + x1] for y in rows)


def test_streams_are_h264_yuv420p_and_aac_of_the_requested_length(video: pathlib.Path) -> None:
    with av.open(str(video)) as container:
        assert container.duration is not None
        assert container.duration / av.time_base == pytest.approx(SECONDS, abs=0.1)
        stream = container.streams.video[0]
        ctx = stream.codec_context
        assert ctx.name == "h264"
        assert ctx.profile in ("Baseline", "Constrained Baseline", "Main")
        assert ctx.pix_fmt == "yuv420p"
        assert (ctx.width, ctx.height) == (WIDTH, HEIGHT)
        assert stream.frames == SECONDS * FPS
        assert [a.codec_context.name for a in container.streams.audio] == ["aac"]
        audio = container.streams.audio[0]
        assert audio.duration is not None and audio.time_base is not None
        assert float(audio.duration * audio.time_base) == pytest.approx(SECONDS, abs=0.1)


def test_moov_box_precedes_media_data(video: pathlib.Path) -> None:
    boxes = _top_level_boxes(video)
    assert "moov" in boxes and "mdat" in boxes
    assert boxes.index("moov") < boxes.index("mdat")


def test_a_keyframe_starts_every_second(video: pathlib.Path) -> None:
    with av.open(str(video)) as container:
        keyframes = [
            index
            for index, packet in enumerate(container.demux(video=0))
            if packet.size and packet.is_keyframe
        ]
    assert keyframes[0] == 0
    gaps = [b - a for a, b in zip(keyframes, [*keyframes, SECONDS * FPS][1:], strict=True)]
    assert max(gaps) <= FPS


def test_clock_region_changes_over_time(video: pathlib.Path) -> None:
    with av.open(str(video)) as container:
        frames = [f for f in container.decode(video=0) if f.time in (0.0, 2.0)]
    assert [f.time for f in frames] == [0.0, 2.0]
    start, later = (_clock_region(f) for f in frames)
    changed = sum(1 for a, b in zip(start, later, strict=True) if abs(a - b) > 64)
    # 00:00.0 -> 00:02.0 relights three segments of one digit: a few percent of the box.
    assert changed > len(start) // 100


def test_progress_reports_fractions_up_to_one(tmp_path: pathlib.Path) -> None:
    reports: list[float] = []
    make_sample_video(tmp_path / "p.mp4", 1, 160, 90, 12, progress=reports.append)
    assert reports == sorted(reports)
    assert reports[0] > 0 and reports[-1] == 1.0
    assert len(reports) <= 100


def test_cached_sample_reuses_the_existing_file(tmp_path: pathlib.Path) -> None:
    first = cached_sample(tmp_path, seconds=1, width=160, height=90, fps=12)
    assert first == tmp_path / sample_name(1, 160, 90, 12)
    mtime = first.stat().st_mtime_ns
    calls: list[float] = []
    second = cached_sample(tmp_path, calls.append, seconds=1, width=160, height=90, fps=12)
    assert second == first
    assert second.stat().st_mtime_ns == mtime
    assert calls == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name]


def test_cached_sample_leaves_nothing_behind_when_generation_fails(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: pathlib.Path, *args: object) -> pathlib.Path:
        path.write_bytes(b"half a file")
        raise RuntimeError("encoder died")

    monkeypatch.setattr(sample, "make_sample_video", broken)
    with pytest.raises(RuntimeError, match="encoder died"):
        cached_sample(tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_the_demo_thumbnail_is_one_telegram_would_take(video: pathlib.Path) -> None:
    import io

    from tgemu.demo.thumbnail import make_thumbnail
    from tgemu.media import check_thumb

    thumb = make_thumbnail(video, at_seconds=1.5)
    # The "m" size: 320 px wide, the video's aspect kept, under Telegram's 200 kB.
    assert check_thumb(thumb) == ("m", 320, 180)
    with av.open(io.BytesIO(thumb)) as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (320, 180)
    # Another moment shows another clock; past the end, the last frame.
    assert make_thumbnail(video, at_seconds=0.0) != thumb
    assert check_thumb(make_thumbnail(video, at_seconds=SECONDS + 10)) == ("m", 320, 180)


def test_a_video_of_ones_own_is_sent_with_a_thumbnail(
    video: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    import os

    from tgemu.media import check_thumb
    from tgemu.send import video_thumbnail

    thumb = video_thumbnail(video, "video/mp4")
    assert thumb is not None and check_thumb(thumb) == ("m", 320, 180)
    assert video_thumbnail(video, "application/octet-stream") is None  # not sent as a video
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(5000))
    assert video_thumbnail(junk, "video/mp4") is None  # unreadable: sent without one
