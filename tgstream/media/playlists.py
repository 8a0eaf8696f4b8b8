"""The HLS playlists (RFC 8216) of a probed file: pure text, no I/O.

One master playlist: the video rendition as the variant stream, each audio track an
alternate rendition (EXT-X-MEDIA TYPE=AUDIO) and each text subtitle track a SUBTITLES one,
so a player offers every audio track and the subtitles.  One media playlist per rendition,
VOD, a segment per planned segment.  Every URI is relative, with the request's own query
(the link's signature) appended, so the signature travels with each request.

Rendition names in URIs: `v` (video), `a{stream index}` (an audio track as AAC),
`s{stream index}` (a subtitle track as WebVTT).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .probe import MediaProbe, Track
from .segments import Segment, target_duration

AAC_STRING = "mp4a.40.2"
AAC_BIT_RATE = 128_000
"""What audio renditions are encoded at (AAC-LC stereo 48 kHz)."""
MPEGTS_OFFSET = 10.0
"""Seconds added to every timestamp in the segments (video, audio and the WebVTT
X-TIMESTAMP-MAP alike): an MPEG-TS timestamp cannot be negative, and a file's first packets
often are (B-frames, audio priming)."""

RenditionKind = Literal["video", "audio", "subtitle"]
_RENDITION = re.compile(r"^(v|a(0|[1-9][0-9]{0,3})|s(0|[1-9][0-9]{0,3}))$")
_SEGMENT = re.compile(r"^(0|[1-9][0-9]{0,6})\.(ts|vtt)$")


@dataclass(frozen=True, slots=True)
class Rendition:
    kind: RenditionKind
    track: int | None  # the stream index of an audio or subtitle track

    @property
    def name(self) -> str:
        if self.kind == "video":
            return "v"
        return f"{'a' if self.kind == 'audio' else 's'}{self.track}"

    @property
    def extension(self) -> str:
        return "vtt" if self.kind == "subtitle" else "ts"


def parse_rendition(name: str) -> Rendition | None:
    """The rendition a URI path segment names; None if it names none."""
    match = _RENDITION.match(name)
    if match is None:
        return None
    if name == "v":
        return Rendition("video", None)
    return Rendition("audio" if name[0] == "a" else "subtitle", int(name[1:]))


def parse_segment(name: str, rendition: Rendition) -> int | None:
    """The segment number of a file name (`12.ts`, `3.vtt`), if its extension is the
    rendition's; else None."""
    match = _SEGMENT.match(name)
    if match is None or match[2] != rendition.extension:
        return None
    return int(match[1])


def renditions(probe: MediaProbe) -> list[Rendition]:
    """Every rendition the file offers."""
    found = []
    if probe.video() is not None:
        found.append(Rendition("video", None))
    found += [Rendition("audio", t.index) for t in probe.audios()]
    found += [Rendition("subtitle", t.index) for t in probe.subtitles()]
    return found


def offers(probe: MediaProbe, rendition: Rendition) -> bool:
    return rendition in renditions(probe)


def _quoted(text: str) -> str:
    # A quoted-string holds no double quote, CR or LF (RFC 8216 4.2).
    cleaned = re.sub(r'["\r\n\x00-\x1f]', " ", text).strip()
    return f'"{cleaned or "?"}"'


def _names(tracks: list[Track]) -> list[str]:
    """Each track's menu name, unique in its group (NAME must be)."""
    names: list[str] = []
    for track in tracks:
        name = track.label
        if name in names:
            name = f"{name} ({track.index})"
        names.append(name)
    return names


def _language(track: Track) -> str | None:
    lang = track.language
    if lang and lang != "und" and re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*", lang):
        return lang
    return None


def master_playlist(probe: MediaProbe, size: int, query: str) -> str:
    """The master playlist; `query` ("?sig=...") is appended to every URI."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:4", "#EXT-X-INDEPENDENT-SEGMENTS"]
    audios = probe.audios()
    subtitles = probe.subtitles()
    video = probe.video()
    for track, name in zip(audios, _names(audios), strict=True):
        attrs = ["TYPE=AUDIO", 'GROUP-ID="audio"', f"NAME={_quoted(name)}"]
        language = _language(track)
        if language:
            attrs.append(f"LANGUAGE={_quoted(language)}")
        first = track is audios[0]
        attrs += [f"DEFAULT={'YES' if first else 'NO'}", "AUTOSELECT=YES", 'CHANNELS="2"']
        attrs.append(f'URI="a{track.index}/index.m3u8{query}"')
        lines.append("#EXT-X-MEDIA:" + ",".join(attrs))
    for track, name in zip(subtitles, _names(subtitles), strict=True):
        attrs = ["TYPE=SUBTITLES", 'GROUP-ID="subs"', f"NAME={_quoted(name)}"]
        language = _language(track)
        if language:
            attrs.append(f"LANGUAGE={_quoted(language)}")
        attrs += [f"DEFAULT={'YES' if track.default else 'NO'}", "AUTOSELECT=YES"]
        attrs.append(f'URI="s{track.index}/index.m3u8{query}"')
        lines.append("#EXT-X-MEDIA:" + ",".join(attrs))
    rate = probe.bit_rate or (round(size * 8 / probe.duration) if probe.duration > 0 else 0)
    if video is not None:
        codecs = [video.codec_string or video.codec]
        if audios:
            codecs.append(AAC_STRING)
        attrs = [f"BANDWIDTH={max(1, rate) + (AAC_BIT_RATE if audios else 0)}"]
        attrs.append(f'CODECS="{",".join(codecs)}"')
        if video.width and video.height:
            attrs.append(f"RESOLUTION={video.width}x{video.height}")
        if audios:
            attrs.append('AUDIO="audio"')
        if subtitles:
            attrs.append('SUBTITLES="subs"')
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attrs), f"v/index.m3u8{query}"]
    elif audios:
        # Audio alone: the first track is the variant stream too.
        attrs = [f"BANDWIDTH={AAC_BIT_RATE}", f'CODECS="{AAC_STRING}"', 'AUDIO="audio"']
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attrs), f"a{audios[0].index}/index.m3u8{query}"]
    return "\n".join(lines) + "\n"


def media_playlist(segments: list[Segment], rendition: Rendition, query: str) -> str:
    """A rendition's media playlist: every segment, VOD, ended."""
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{target_duration(segments)}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
    ]
    if rendition.kind != "subtitle":
        lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    for segment in segments:
        lines.append(f"#EXTINF:{segment.duration:.3f},")
        lines.append(f"{segment.index}.{rendition.extension}{query}")
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
