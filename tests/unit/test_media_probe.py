"""The probe model: its JSON round trip (and what it refuses), the helpers, the names a
browser gets (RFC 6381 codec strings, MIME types)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tgstream.media.probe import (
    KINDS,
    VERSION,
    Keyframe,
    MediaProbe,
    ProbeFormatError,
    Track,
    codec_string,
    mime_of,
)

text = st.one_of(st.none(), st.text(max_size=20))
tracks = st.builds(
    Track,
    index=st.integers(0, 50),
    kind=st.sampled_from(KINDS),
    codec=st.sampled_from(["h264", "hevc", "aac", "ac3", "subrip", "ass", "dts"]),
    codec_string=text,
    language=text,
    title=text,
    channels=st.one_of(st.none(), st.integers(1, 8)),
    width=st.one_of(st.none(), st.integers(1, 8000)),
    height=st.one_of(st.none(), st.integers(1, 8000)),
    default=st.booleans(),
)
probes = st.builds(
    MediaProbe,
    container=st.sampled_from(["matroska,webm", "mov,mp4,m4a,3gp,3g2,mj2", "avi"]),
    mime=st.sampled_from(["video/mp4", "video/x-matroska"]),
    duration=st.floats(0, 1e6, allow_nan=False),
    start_time=st.floats(-10, 10, allow_nan=False),
    tracks=st.lists(tracks, max_size=6).map(tuple),
    keyframes=st.lists(
        st.builds(Keyframe, st.floats(0, 1e6, allow_nan=False), st.integers(-1, 2**40))
    ).map(tuple),
    bit_rate=st.one_of(st.none(), st.integers(0, 10**9)),
)


@given(probes)
def test_json_round_trip_is_exact(probe: MediaProbe) -> None:
    assert MediaProbe.from_json(probe.to_json()) == probe


def sample() -> MediaProbe:
    return MediaProbe(
        container="matroska,webm",
        mime="video/x-matroska",
        duration=30.0,
        start_time=0.0,
        tracks=(
            Track(0, "video", "h264", "avc1.64000d", width=320, height=180, default=True),
            Track(1, "audio", "ac3", "ac-3", language="eng", title="Surround", channels=6),
            Track(2, "audio", "aac", "mp4a.40.2", language="fra", channels=2),
            Track(3, "subtitle", "subrip", None, language="eng"),
            Track(4, "subtitle", "hdmv_pgs_subtitle", None),
            Track(5, "other", "ttf", None),
        ),
        keyframes=(Keyframe(0.0, 500), Keyframe(2.0, 90_000)),
    )


def test_helpers_pick_the_tracks() -> None:
    probe = sample()
    video = probe.video()
    assert video is not None and video.index == 0
    assert [t.index for t in probe.audios()] == [1, 2]
    # Only text subtitles can become WebVTT: the bitmap track is left out.
    assert [t.index for t in probe.subtitles()] == [3]
    assert probe.track(2) is not None and probe.track(9) is None
    assert [t.label for t in probe.tracks[1:4]] == ["Surround", "fra", "eng"]
    assert Track(7, "audio", "aac", None, language="und").label == "Track 7"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda raw: raw.update(version=VERSION + 1),
        lambda raw: raw.pop("tracks"),
        lambda raw: raw["tracks"][0].update(kind="hologram"),
        lambda raw: raw["keyframes"][0].update(time="soon"),
        lambda raw: raw.update(duration=None),
    ],
)
def test_a_stored_probe_of_another_shape_is_refused(mangle: object) -> None:
    raw = json.loads(sample().to_json())
    mangle(raw)  # type: ignore[operator]
    with pytest.raises(ProbeFormatError):
        MediaProbe.from_json(json.dumps(raw))


@pytest.mark.parametrize("text", ["", "[]", "null", "{", '"probe"'])
def test_text_that_is_no_probe_is_refused(text: str) -> None:
    with pytest.raises(ProbeFormatError):
        MediaProbe.from_json(text)


@pytest.mark.parametrize(
    ("codec", "profile", "level", "extradata", "expected"),
    [
        # The avcC box wins: profile, constraints and level bytes as they are.
        ("h264", "High", 31, bytes([1, 0x64, 0x00, 0x1F, 0xFF]), "avc1.64001f"),
        ("h264", "Main", 30, b"", "avc1.4d001e"),
        ("h264", "Constrained Baseline", 21, b"", "avc1.424015"),
        ("h264", None, None, b"", "avc1.64001f"),
        ("hevc", "Main", 93, b"", "hev1.1.6.L93.B0"),
        ("hevc", "Main 10", 120, b"", "hev1.2.4.L120.B0"),
        ("aac", "LC", None, b"", "mp4a.40.2"),
        ("aac", "HE-AAC", None, b"", "mp4a.40.5"),
        ("aac", None, None, b"", "mp4a.40.2"),
        ("ac3", None, None, b"", "ac-3"),
        ("eac3", None, None, b"", "ec-3"),
        ("opus", None, None, b"", "opus"),
        ("mp3", None, None, b"", "mp4a.40.34"),
        ("vp9", None, None, b"", "vp09.00.10.08"),
        ("dts", None, None, b"", None),
        ("subrip", None, None, b"", None),
    ],
)
def test_codec_strings(
    codec: str, profile: str | None, level: int | None, extradata: bytes, expected: str | None
) -> None:
    assert codec_string(codec, profile, level, extradata) == expected


@pytest.mark.parametrize(
    ("container", "video", "webm", "expected"),
    [
        ("matroska,webm", True, False, "video/x-matroska"),
        ("matroska,webm", True, True, "video/webm"),
        ("mov,mp4,m4a,3gp,3g2,mj2", True, False, "video/mp4"),
        ("mov,mp4,m4a,3gp,3g2,mj2", False, False, "audio/mp4"),
        ("avi", True, False, "video/x-msvideo"),
        ("mpegts", True, False, "video/mp2t"),
        ("mp3", False, False, "audio/mpeg"),
        ("nut", True, False, "application/octet-stream"),
    ],
)
def test_mime_types(container: str, video: bool, webm: bool, expected: str) -> None:
    assert mime_of(container, video, webm) == expected
