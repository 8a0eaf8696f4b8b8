"""What a probe reads of each kind of fixture file (made with PyAV): tracks, the codec strings
a browser gets, the MIME type, the duration and every keyframe with its byte position."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import media_files
from tgstream.media.inspect import Unreadable, inspect
from tgstream.media.probe import MediaProbe


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inspect")


def probe_of(path: Path) -> MediaProbe:
    with path.open("rb") as handle:
        return inspect(handle)


def test_mkv_with_h264_and_ac3_surround(base: Path) -> None:
    made = media_files.mkv_h264_ac3(base / "a.mkv", seconds=10, keyframe_interval=2)
    probe = probe_of(made.path)
    assert probe.mime == "video/x-matroska" and "matroska" in probe.container
    assert probe.duration == pytest.approx(10.0, abs=0.05)
    video, audio = probe.tracks
    assert (video.kind, video.codec, video.width, video.height) == ("video", "h264", 320, 180)
    assert video.codec_string is not None and video.codec_string.startswith("avc1.")
    assert (audio.kind, audio.codec, audio.codec_string, audio.channels) == (
        "audio",
        "ac3",
        "ac-3",
        6,
    )
    assert (audio.language, audio.title) == ("eng", "Surround")
    assert [k.time for k in probe.keyframes] == [0.0, 2.0, 4.0, 6.0, 8.0]
    positions = [k.position for k in probe.keyframes]
    assert positions == sorted(positions) and positions[0] > 0
    assert positions[-1] < made.size


def test_mkv_with_two_audio_tracks_and_subrip(base: Path) -> None:
    made = media_files.mkv_two_audio_srt(base / "b.mkv", seconds=6)
    probe = probe_of(made.path)
    assert [(t.kind, t.codec) for t in probe.tracks] == [
        ("video", "h264"),
        ("audio", "ac3"),
        ("audio", "aac"),
        ("subtitle", "subrip"),
    ]
    assert probe.tracks[2].codec_string == "mp4a.40.2" and probe.tracks[2].channels == 2
    assert probe.tracks[2].language == "fra" and probe.tracks[3].title == "English"
    assert [t.index for t in probe.subtitles()] == [3]


def test_hevc(base: Path) -> None:
    made = media_files.mkv_hevc_aac(base / "c.mkv", seconds=4)
    probe = probe_of(made.path)
    video = probe.video()
    assert video is not None and video.codec == "hevc"
    assert video.codec_string is not None and video.codec_string.startswith("hev1.1.")
    assert probe.audios()[0].codec_string == "mp4a.40.2"


def test_mp4_with_moov_first(base: Path) -> None:
    made = media_files.mp4_h264_aac(base / "d.mp4", seconds=4, keyframe_interval=1)
    assert b"moov" in made.path.read_bytes()[:4096], "faststart: the index comes first"
    probe = probe_of(made.path)
    assert probe.mime == "video/mp4"
    assert [k.time for k in probe.keyframes] == pytest.approx([0.0, 1.0, 2.0, 3.0], abs=0.1)
    assert all(k.position > 0 for k in probe.keyframes)


@pytest.mark.parametrize("data", [b"", bytes(4096), b"%PDF-1.4" + bytes(4000)])
def test_what_is_not_media_is_unreadable(base: Path, data: bytes) -> None:
    path = base / "x.bin"
    path.write_bytes(data)
    with pytest.raises(Unreadable):
        probe_of(path)
