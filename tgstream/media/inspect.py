"""What PyAV reads of a container's header and index, as a MediaProbe (blocking: run it in a
worker thread, over a RangedReader).

It never demuxes the file: opening reads the header (and, bounded by PROBE_BYTES, the first
packets FFmpeg wants to see); for Matroska, one seek makes the demuxer read the Cues, so the
video stream's index entries hold every keyframe's time and cluster position.  MP4 has them
from the moov box already.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import av
from av.container import InputContainer
from av.stream import Disposition, Stream

from .probe import (
    WEBM_CODECS,
    Keyframe,
    Kind,
    MediaProbe,
    Track,
    Unreadable,
    codec_string,
    mime_of,
)

# FFmpeg's stream-info pass reads at most this much; codecs and layouts come from the header
# anyway (Matroska's track entries, MP4's sample descriptions).
PROBE_BYTES = 1 << 20
PROBE_MICROSECONDS = 1_000_000
# PyAV reads through its own buffer of this size: fewer, larger reads cross threads.
BUFFER = 64 * 1024

OPEN_OPTIONS = {"probesize": str(PROBE_BYTES), "analyzeduration": str(PROBE_MICROSECONDS)}


def open_input(file: Any) -> InputContainer:
    try:
        container: InputContainer = av.open(file, "r", options=OPEN_OPTIONS, buffer_size=BUFFER)
    except av.FFmpegError as exc:
        raise Unreadable(f"not a media file PyAV can read ({exc.strerror or exc})") from None
    return container


def inspect(file: Any) -> MediaProbe:
    """The probe of the file `file` reads (a RangedReader, or any seekable file object)."""
    container = open_input(file)
    try:
        return _inspect(container)
    except av.FFmpegError as exc:
        raise Unreadable(f"cannot read the media file ({exc.strerror or exc})") from None
    finally:
        container.close()


def _inspect(container: InputContainer) -> MediaProbe:
    streams = list(container.streams)
    if not any(s.type in ("video", "audio") for s in streams):
        raise Unreadable("no audio or video in this file")
    video = next((s for s in streams if s.type == "video" and not _is_picture(s)), None)
    fmt = container.format.name
    if video is not None and "matroska" in fmt.split(","):
        # Matroska reads its Cues (keyframe times and positions) on the first seek only;
        # until then the index holds what the first packets added.
        container.seek(0, stream=video)
    tracks = tuple(_track(s) for s in streams)
    keyframes = _keyframes(video) if video is not None else ()
    duration = container.duration / 1_000_000 if container.duration else 0.0
    start = container.start_time / 1_000_000 if container.start_time else 0.0
    if duration <= 0 and video is not None and video.duration and video.time_base:
        duration = float(video.duration * video.time_base)
    codecs = {t.codec for t in tracks if t.kind in ("video", "audio")}
    return MediaProbe(
        container=fmt,
        mime=mime_of(fmt, video is not None, codecs <= WEBM_CODECS),
        duration=round(duration, 6),
        start_time=round(start, 6),
        tracks=tracks,
        keyframes=keyframes,
        bit_rate=container.bit_rate or None,
    )


def _is_picture(stream: Stream) -> bool:
    # A cover image is a "video" stream of one frame.
    return bool(stream.disposition & Disposition.attached_pic)


def _kind(stream: Stream) -> Kind:
    if stream.type == "video" and not _is_picture(stream):
        return "video"
    if stream.type == "audio":
        return "audio"
    if stream.type == "subtitle":
        return "subtitle"
    return "other"


def _track(stream: Stream) -> Track:
    context: Any = stream.codec_context
    kind = _kind(stream)
    # The codec's own name (subrip), not its decoder's (srt).
    codec = str(context.codec.canonical_name) if context is not None else "unknown"
    channels = width = height = None
    name: str | None = None
    if kind == "audio":
        layout = getattr(context, "layout", None)
        channels = layout.nb_channels if layout is not None else getattr(context, "channels", None)
    elif kind == "video":
        width, height = getattr(context, "width", 0) or None, getattr(context, "height", 0) or None
    if kind in ("video", "audio") and context is not None:
        extradata = bytes(context.extradata or b"")
        name = _hevc_string(extradata) if codec == "hevc" else None
        if name is None:
            profile = getattr(context, "profile", None)
            level = getattr(context, "level", None)
            name = codec_string(
                codec, profile, level if isinstance(level, int) else None, extradata
            )
    metadata = stream.metadata
    return Track(
        index=stream.index,
        kind=kind,
        codec=codec,
        codec_string=name,
        language=metadata.get("language") or None,
        title=metadata.get("title") or None,
        channels=channels,
        width=width,
        height=height,
        default=bool(stream.disposition & Disposition.default),
    )


def _hevc_string(extradata: bytes) -> str | None:
    """RFC 6381 for HEVC from the hvcC box (ISO/IEC 14496-15 E.3): hev1.P.C.TL.B."""
    if len(extradata) < 13 or extradata[0] != 1:
        return None
    space = "ABC"[(extradata[1] >> 6) - 1] if extradata[1] >> 6 else ""
    tier = "H" if extradata[1] & 0x20 else "L"
    profile = extradata[1] & 0x1F
    flags = int.from_bytes(extradata[2:6], "big")
    reversed_flags = int(f"{flags:032b}"[::-1], 2)
    constraints = extradata[6:12].rstrip(b"\0")
    parts = [f"hev1.{space}{profile}", f"{reversed_flags:x}", f"{tier}{extradata[12]}"]
    parts += [f"{b:x}".upper() for b in constraints] or ["B0"]
    return ".".join(parts)


def _keyframes(video: Stream) -> tuple[Keyframe, ...]:
    base: Fraction | None = video.time_base
    if base is None:
        return ()
    found: dict[float, int] = {}
    for entry in video.index_entries:
        if not entry.is_keyframe:
            continue
        time = round(float(entry.timestamp * base), 6)
        if time not in found:
            found[time] = int(entry.pos)
    times = sorted(found)
    # MP4's index holds decoding times, which run ahead of presentation by the B-frame
    # delay (the first keyframe decodes before the stream starts): shifted by that delay,
    # they are the times a segment starts at, as Matroska's Cues give them.
    start = float(video.start_time * base) if video.start_time is not None else None
    shift = start - times[0] if times and start is not None and times[0] < start else 0.0
    return tuple(Keyframe(round(t + shift, 6), found[t]) for t in times)
