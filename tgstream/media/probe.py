"""What a probe learns about a media file, as plain values with a JSON form (the store keeps
the JSON with the file record; the watch page reads the codec strings).  Pure: no I/O."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

VERSION = 1
"""Bumped when what a probe records changes: a stored probe of another version is made again."""

Kind = Literal["video", "audio", "subtitle", "other"]
KINDS: tuple[Kind, ...] = ("video", "audio", "subtitle", "other")
# Subtitle codecs whose cues are text, so they can become WebVTT.
TEXT_SUBTITLES = frozenset({"subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text"})


class Unreadable(Exception):
    """PyAV cannot read this file as media (its message says why)."""


class ProbeFormatError(ValueError):
    """A stored probe that is not one this version wrote."""


@dataclass(frozen=True, slots=True)
class Track:
    index: int  # the container's stream index
    kind: Kind
    codec: str  # FFmpeg's codec name: h264, hevc, aac, ac3, subrip, ...
    codec_string: str | None  # RFC 6381, as a browser's canPlayType takes it
    language: str | None = None
    title: str | None = None
    channels: int | None = None
    width: int | None = None
    height: int | None = None
    default: bool = False

    @property
    def is_text(self) -> bool:
        return self.kind == "subtitle" and self.codec in TEXT_SUBTITLES

    @property
    def label(self) -> str:
        """A name for a menu: the title, else the language, else the track's number."""
        if self.title:
            return self.title
        if self.language and self.language != "und":
            return self.language
        return f"Track {self.index}"


@dataclass(frozen=True, slots=True)
class Keyframe:
    time: float  # seconds, on the file's own timeline
    position: int  # byte offset in the file where reading for it starts; -1 if unknown


@dataclass(frozen=True, slots=True)
class MediaProbe:
    container: str  # FFmpeg's format name: "matroska,webm", "mov,mp4,m4a,3gp,3g2,mj2", ...
    mime: str  # what a browser would call the file: video/mp4, video/x-matroska, ...
    duration: float  # seconds
    start_time: float  # seconds
    tracks: tuple[Track, ...]
    keyframes: tuple[Keyframe, ...]  # of the first video track, ascending by time
    bit_rate: int | None = None
    version: int = VERSION

    def video(self) -> Track | None:
        return next((t for t in self.tracks if t.kind == "video"), None)

    def audios(self) -> list[Track]:
        return [t for t in self.tracks if t.kind == "audio"]

    def subtitles(self) -> list[Track]:
        """The text subtitle tracks (what can be offered as WebVTT)."""
        return [t for t in self.tracks if t.is_text]

    def track(self, index: int) -> Track | None:
        return next((t for t in self.tracks if t.index == index), None)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> MediaProbe:
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict) or raw.get("version") != VERSION:
                raise ProbeFormatError("not a probe of this version")
            tracks = tuple(_track(t) for t in raw["tracks"])
            keyframes = tuple(
                Keyframe(float(k["time"]), int(k["position"])) for k in raw["keyframes"]
            )
            return cls(
                container=str(raw["container"]),
                mime=str(raw["mime"]),
                duration=float(raw["duration"]),
                start_time=float(raw["start_time"]),
                tracks=tracks,
                keyframes=keyframes,
                bit_rate=None if raw.get("bit_rate") is None else int(raw["bit_rate"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ProbeFormatError):
                raise
            raise ProbeFormatError(f"malformed probe: {exc!r}") from None


def _track(raw: dict[str, Any]) -> Track:
    kind = raw["kind"]
    if kind not in KINDS:
        raise ProbeFormatError(f"unknown track kind {kind!r}")
    return Track(
        index=int(raw["index"]),
        kind=kind,
        codec=str(raw["codec"]),
        codec_string=raw.get("codec_string"),
        language=raw.get("language"),
        title=raw.get("title"),
        channels=raw.get("channels"),
        width=raw.get("width"),
        height=raw.get("height"),
        default=bool(raw.get("default", False)),
    )


# --- what a browser calls things ---------------------------------------------------------

_MIME_BY_FORMAT = (
    ("matroska", "video/x-matroska"),
    ("webm", "video/webm"),
    ("mov", "video/mp4"),
    ("mp4", "video/mp4"),
    ("mpegts", "video/mp2t"),
    ("avi", "video/x-msvideo"),
    ("ogg", "video/ogg"),
    ("flv", "video/x-flv"),
    ("mp3", "audio/mpeg"),
    ("flac", "audio/flac"),
    ("wav", "audio/wav"),
)


def mime_of(container: str, has_video: bool, webm_codecs: bool) -> str:
    """The MIME type a browser would give the file: FFmpeg names a format family
    ("matroska,webm"), so a Matroska file whose codecs are all WebM's is called WebM."""
    names = container.split(",")
    if "matroska" in names:
        return "video/webm" if webm_codecs else "video/x-matroska"
    for key, mime in _MIME_BY_FORMAT:
        if key in names:
            if mime == "video/mp4" and not has_video:
                return "audio/mp4"
            return mime
    return "application/octet-stream"


WEBM_CODECS = frozenset({"vp8", "vp9", "av1", "opus", "vorbis", "webvtt"})

_AUDIO_STRINGS = {
    "ac3": "ac-3",
    "eac3": "ec-3",
    "opus": "opus",
    "vorbis": "vorbis",
    "flac": "flac",
    "mp3": "mp4a.40.34",
    "mp2": "mp4a.40.33",
    "alac": "alac",
}
# AAC's object types by FFmpeg's profile names.
_AAC_OBJECT = {"LC": 2, "HE-AAC": 5, "HE-AACv2": 29, "Main": 1, "SSR": 3, "LTP": 4}
_H264_PROFILES = {
    "Baseline": 66,
    "Constrained Baseline": 66,
    "Main": 77,
    "Extended": 88,
    "High": 100,
    "High 10": 110,
    "High 4:2:2": 122,
    "High 4:4:4 Predictive": 244,
}
_HEVC_PROFILES = {"Main": 1, "Main 10": 2, "Main Still Picture": 3, "Rext": 4}


def codec_string(
    codec: str, profile: str | None = None, level: int | None = None, extradata: bytes = b""
) -> str | None:
    """The RFC 6381 name of a codec, as a browser's canPlayType wants it; None when there is
    no such name (subtitles, codecs no browser knows)."""
    if codec == "h264":
        return _avc(profile, level, extradata)
    if codec == "hevc":
        return _hevc(profile, level)
    if codec == "aac":
        return f"mp4a.40.{_AAC_OBJECT.get(profile or 'LC', 2)}"
    if codec == "vp9":
        return "vp09.00.10.08"
    if codec == "vp8":
        return "vp8"
    if codec == "av1":
        return "av01.0.04M.08"
    return _AUDIO_STRINGS.get(codec)


def _avc(profile: str | None, level: int | None, extradata: bytes) -> str:
    # The avcC box says it exactly: profile, constraint flags, level (bytes 1..3).
    if len(extradata) >= 4 and extradata[0] == 1:
        return "avc1." + extradata[1:4].hex()
    number = _H264_PROFILES.get(profile or "", 100)
    constraints = 0x40 if profile == "Constrained Baseline" else 0
    lvl = level if level is not None and 0 < level < 256 else 31
    return f"avc1.{number:02x}{constraints:02x}{lvl:02x}"


def _hevc(profile: str | None, level: int | None) -> str:
    number = _HEVC_PROFILES.get(profile or "", 1)
    # Compatibility flag of the profile, level in HEVC's units (30 x the level number).
    compat = {1: 6, 2: 4}.get(number, 0)
    lvl = level if level is not None and 0 < level < 256 else 93
    return f"hev1.{number}.{compat}.L{lvl}.B0"
