"""The HLS playlists (RFC 8216) and the URI names of renditions and segments, and WebVTT
segments of subtitle cues."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tgstream.media.playlists import (
    MPEGTS_OFFSET,
    Rendition,
    master_playlist,
    media_playlist,
    offers,
    parse_rendition,
    parse_segment,
    renditions,
)
from tgstream.media.probe import Keyframe, MediaProbe, Track
from tgstream.media.segments import plan_segments
from tgstream.media.vtt import Cue, cue_text, timestamp, webvtt

QUERY = "?sig=abc&exp=123"


def film(*tracks: Track) -> MediaProbe:
    keys = tuple(Keyframe(float(t), t * 1000) for t in range(0, 30, 2))
    return MediaProbe("matroska,webm", "video/x-matroska", 30.0, 0.0, tracks, keys, 800_000)


VIDEO = Track(0, "video", "h264", "avc1.64001f", width=1280, height=720, default=True)
AC3 = Track(1, "audio", "ac3", "ac-3", language="eng", title="English 5.1", channels=6)
AAC = Track(2, "audio", "aac", "mp4a.40.2", language="fra", channels=2)
SRT = Track(3, "subtitle", "subrip", None, language="eng", title='Say "hi"\nnow')
PGS = Track(4, "subtitle", "hdmv_pgs_subtitle", None)


def attributes(line: str) -> dict[str, str]:
    return dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1]))


def test_master_lists_every_audio_track_and_the_text_subtitles() -> None:
    text = master_playlist(film(VIDEO, AC3, AAC, SRT, PGS), 3_000_000, QUERY)
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U" and text.endswith("\n")
    media = [attributes(line) for line in lines if line.startswith("#EXT-X-MEDIA:")]
    assert [(m["TYPE"], m["URI"]) for m in media] == [
        ("AUDIO", f'"a1/index.m3u8{QUERY}"'),
        ("AUDIO", f'"a2/index.m3u8{QUERY}"'),
        ("SUBTITLES", f'"s3/index.m3u8{QUERY}"'),
    ]
    assert [m["NAME"] for m in media] == ['"English 5.1"', '"fra"', '"Say  hi  now"']
    assert [m["DEFAULT"] for m in media[:2]] == ["YES", "NO"]
    assert media[0]["LANGUAGE"] == '"eng"' and media[1]["CHANNELS"] == '"2"'
    (stream,) = [attributes(line) for line in lines if line.startswith("#EXT-X-STREAM-INF:")]
    assert stream["CODECS"] == '"avc1.64001f,mp4a.40.2"'
    assert stream["RESOLUTION"] == "1280x720" and int(stream["BANDWIDTH"]) > 800_000
    assert stream["AUDIO"] == '"audio"' and stream["SUBTITLES"] == '"subs"'
    assert lines[lines.index(next(x for x in lines if x.startswith("#EXT-X-STREAM-INF"))) + 1] == (
        f"v/index.m3u8{QUERY}"
    )


def test_master_of_a_silent_film_and_of_audio_alone() -> None:
    silent = master_playlist(film(VIDEO), 1000, "")
    assert "#EXT-X-MEDIA:" not in silent and 'CODECS="avc1.64001f"' in silent
    assert "AUDIO=" not in silent and "v/index.m3u8" in silent
    song = MediaProbe("mp3", "audio/mpeg", 10.0, 0.0, (Track(0, "audio", "mp3", None),), ())
    text = master_playlist(song, 1000, "")
    assert text.splitlines()[-1] == "a0/index.m3u8" and 'CODECS="mp4a.40.2"' in text


def test_two_tracks_of_one_name_are_told_apart() -> None:
    one = Track(1, "audio", "ac3", "ac-3", language="eng")
    two = Track(2, "audio", "ac3", "ac-3", language="eng")
    text = master_playlist(film(VIDEO, one, two), 1000, "")
    assert 'NAME="eng"' in text and 'NAME="eng (2)"' in text


def test_media_playlist_is_vod_and_lists_each_segment() -> None:
    probe = film(VIDEO, AC3, SRT)
    segments = plan_segments(probe, 40_000)
    text = media_playlist(segments, Rendition("audio", 1), QUERY)
    lines = text.splitlines()
    assert lines[:5] == [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        "#EXT-X-TARGETDURATION:6",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
    ]
    assert lines[-1] == "#EXT-X-ENDLIST"
    extinf = [float(x[8:-1]) for x in lines if x.startswith("#EXTINF:")]
    assert sum(extinf) == pytest.approx(30.0)
    uris = [x for x in lines if not x.startswith("#")]
    assert uris == [f"{n}.ts{QUERY}" for n in range(len(segments))]
    subs = media_playlist(segments, Rendition("subtitle", 3), "")
    assert next(x for x in subs.splitlines() if not x.startswith("#")) == "0.vtt"


def test_renditions_offered() -> None:
    probe = film(VIDEO, AC3, SRT, PGS)
    assert [r.name for r in renditions(probe)] == ["v", "a1", "s3"]
    assert offers(probe, Rendition("audio", 1)) and not offers(probe, Rendition("audio", 3))
    assert not offers(probe, Rendition("subtitle", 4)), "a bitmap track has no WebVTT"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("v", Rendition("video", None)),
        ("a0", Rendition("audio", 0)),
        ("a12", Rendition("audio", 12)),
        ("s3", Rendition("subtitle", 3)),
        ("a", None),
        ("a01", None),
        ("x1", None),
        ("v1", None),
        ("s-1", None),
        ("a12345", None),
        ("", None),
        ("a1/..", None),
    ],
)
def test_rendition_names(name: str, expected: Rendition | None) -> None:
    assert parse_rendition(name) == expected
    if expected is not None:
        assert expected.name == name


@given(st.text(max_size=12))
def test_any_rendition_name_parses_back_to_itself(name: str) -> None:
    rendition = parse_rendition(name)
    assert rendition is None or rendition.name == name


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("0.ts", "video", 0),
        ("17.ts", "audio", 17),
        ("3.vtt", "subtitle", 3),
        ("3.ts", "subtitle", None),
        ("3.vtt", "video", None),
        ("03.ts", "video", None),
        ("-1.ts", "video", None),
        ("1.ts.ts", "video", None),
        ("99999999.ts", "video", None),
        ("index.m3u8", "video", None),
    ],
)
def test_segment_names(name: str, kind: str, expected: int | None) -> None:
    rendition = Rendition(kind, None if kind == "video" else 1)  # type: ignore[arg-type]
    assert parse_segment(name, rendition) == expected


def test_webvtt_maps_cue_times_to_the_segments_clock() -> None:
    text = webvtt([Cue(5.5, 8.0, "Second\nline"), Cue(1.0, 3.0, "A <b>bold</b> & <x>")])
    lines = text.splitlines()
    assert lines[0] == "WEBVTT"
    assert lines[1] == f"X-TIMESTAMP-MAP=MPEGTS:{round(MPEGTS_OFFSET * 90_000)},LOCAL:00:00:00.000"
    assert lines[3:] == [
        "00:00:01.000 --> 00:00:03.000",
        "A <b>bold</b> &amp; &lt;x&gt;",
        "",
        "00:00:05.500 --> 00:00:08.000",
        "Second",
        "line",
    ]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "00:00:00.000"),
        (61.0015, "00:01:01.002"),
        (3 * 3600 + 5.25, "03:00:05.250"),
        (-1, "00:00:00.000"),
    ],
)
def test_vtt_timestamps(seconds: float, text: str) -> None:
    assert timestamp(seconds) == text


@pytest.mark.parametrize(
    ("codec", "payload", "text"),
    [
        ("subrip", b"Hello\r\nworld", "Hello\nworld"),
        ("subrip", b'<font color="red">Red</font> <i>it</i>', "Red <i>it</i>"),
        ("ass", b"0,0,Default,,0,0,0,,{\\an8}Top, with a comma\\Nnext", "Top, with a comma\nnext"),
        ("ass", b"no fields here", "no fields here"),
        ("webvtt", b"plain\n", "plain"),
        ("subrip", b"\xff\xfe bad bytes", "\ufffd\ufffd bad bytes"),
    ],
)
def test_cue_text(codec: str, payload: bytes, text: str) -> None:
    assert cue_text(codec, payload) == text


def test_an_empty_or_blank_cue_stays_one_cue() -> None:
    text = webvtt([Cue(1.0, 1.0, "\n\n")])
    assert "00:00:01.000 --> 00:00:01.001\n \n" in text
