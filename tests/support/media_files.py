"""Media files for the tests, made with PyAV (no ffmpeg binary, no downloaded samples).

Each maker writes one file and returns what a test needs to know about it (the duration and
the keyframe interval it chose, its tracks).  The pictures are noise (so a byte size can be
asked for: noise does not compress) or flat grey; the sound is a tone.  Everything is
deterministic except the noise, which only sets sizes.

    mkv_h264_ac3(path)            MKV: H.264 + AC3 5.1 (what a browser cannot play as is)
    mkv_two_audio_srt(path)       MKV: H.264 + AC3 (eng) + AAC stereo (fra) + an SRT track
    mkv_hevc_aac(path)            MKV: HEVC + AAC
    mp4_h264_aac(path)            MP4: H.264 + AAC, moov first (plays direct)
    big_mkv(path, size)           MKV: H.264 (noise) + AC3 5.1, about `size` bytes
"""

from __future__ import annotations

import math
import os
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.audio.frame import AudioFrame
from av.video.frame import VideoFrame

RATE = 48_000
AUDIO_BLOCK = 1536  # samples per frame we make (AC3's frame size; AAC takes any through
# its encoder's own framing in PyAV)


@dataclass(frozen=True)
class AudioSpec:
    codec: str  # "ac3", "aac"
    layout: str  # "5.1", "stereo", "mono"
    language: str = "und"
    title: str | None = None


@dataclass(frozen=True)
class SubtitleSpec:
    language: str
    cues: Sequence[tuple[float, float, str]]  # (start s, end s, text)
    title: str | None = None


@dataclass(frozen=True)
class MediaFile:
    path: Path
    duration: float  # seconds
    keyframe_interval: float  # seconds between keyframes
    video_codec: str  # FFmpeg's name: h264, hevc
    audios: tuple[AudioSpec, ...]
    subtitles: tuple[SubtitleSpec, ...] = ()

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def _tone(cycles: int, samples: int) -> bytes:
    step = 2 * math.pi * cycles / samples
    return array("f", (0.2 * math.sin(step * n) for n in range(samples))).tobytes()


def make(
    path: Path,
    *,
    container: str,
    seconds: float,
    keyframe_interval: float,
    video_codec: str = "libx264",
    audios: Sequence[AudioSpec] = (),
    subtitles: Sequence[SubtitleSpec] = (),
    width: int = 320,
    height: int = 180,
    fps: int = 25,
    noise: bool = False,
    options: dict[str, str] | None = None,
) -> MediaFile:
    """Write a file: `container` "matroska" or "mp4", a picture every 1/fps s, a keyframe
    every `keyframe_interval` s exactly (no scene cuts), audio kept level with the video so
    the muxer interleaves them closely (as real files are)."""
    gop = round(keyframe_interval * fps)
    frames = round(seconds * fps)
    total_samples = round(seconds * RATE)
    tone = _tone(12, AUDIO_BLOCK)
    with av.open(str(path), "w", format=container, container_options=options or {}) as out:
        video = out.add_stream(
            video_codec,
            rate=fps,
            options={
                "preset": "ultrafast",
                # Lossless on noise: every frame costs its raw size, so sizes can be chosen.
                **({"qp": "0"} if noise and video_codec == "libx264" else {"crf": "30"}),
                **(
                    {"x264-params": f"scenecut=0:keyint={gop}:min-keyint={gop}"}
                    if video_codec == "libx264"
                    else {"x265-params": f"scenecut=0:keyint={gop}:min-keyint={gop}:log-level=0"}
                ),
            },
        )
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.gop_size = gop
        video.codec_context.time_base = Fraction(1, fps)
        audio_streams = []
        for spec in audios:
            stream = out.add_stream(spec.codec, rate=RATE)
            stream.layout = spec.layout
            stream.metadata["language"] = spec.language
            if spec.title:
                stream.metadata["title"] = spec.title
            audio_streams.append(stream)
        subtitle_streams = []
        for sub in subtitles:
            # Cues are muxed as they are (no encoder): a packet holds a cue's text.
            stream_ = out.add_mux_stream("subrip")
            stream_.metadata["language"] = sub.language
            if sub.title:
                stream_.metadata["title"] = sub.title
            subtitle_streams.append(stream_)

        grey = VideoFrame(width, height, "yuv420p")
        for plane in grey.planes:
            plane.update(bytes([128]) * plane.buffer_size)
        samples_done = 0
        pending_cues = [
            (start, end, text, stream_)
            for sub, stream_ in zip(subtitles, subtitle_streams, strict=True)
            for start, end, text in sub.cues
        ]
        pending_cues.sort(key=lambda cue: cue[0])
        for index in range(frames):
            if noise:
                frame = VideoFrame(width, height, "yuv420p")
                for plane in frame.planes:
                    plane.update(os.urandom(plane.buffer_size))
            else:
                frame = grey
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            out.mux(video.encode(frame))
            now = (index + 1) / fps
            while pending_cues and pending_cues[0][0] <= now:
                start, end, text, stream_ = pending_cues.pop(0)
                packet = av.Packet(text.encode())
                packet.stream = stream_
                packet.time_base = Fraction(1, 1000)
                packet.pts = packet.dts = round(start * 1000)
                packet.duration = round((end - start) * 1000)
                out.mux(packet)
            target = min(total_samples, round(now * RATE))
            while samples_done < target:
                count = min(AUDIO_BLOCK, total_samples - samples_done)
                for spec, stream in zip(audios, audio_streams, strict=True):
                    out.mux(stream.encode(_audio(spec.layout, tone, count, samples_done)))
                samples_done += count
        out.mux(video.encode(None))
        for stream in audio_streams:
            out.mux(stream.encode(None))
    name = {"libx264": "h264", "libx265": "hevc"}[video_codec]
    return MediaFile(path, frames / fps, gop / fps, name, tuple(audios), tuple(subtitles))


def _audio(layout: str, tone: bytes, count: int, pts: int) -> AudioFrame:
    frame = AudioFrame(format="fltp", layout=layout, samples=count)
    for plane in frame.planes:
        data = tone[: count * 4]
        plane.update(data + bytes(plane.buffer_size - len(data)))
    frame.sample_rate = RATE
    frame.pts = pts
    frame.time_base = Fraction(1, RATE)
    return frame


def mkv_h264_ac3(path: Path, seconds: float = 30, keyframe_interval: float = 2) -> MediaFile:
    return make(
        path,
        container="matroska",
        seconds=seconds,
        keyframe_interval=keyframe_interval,
        audios=[AudioSpec("ac3", "5.1", "eng", "Surround")],
    )


SRT_CUES = ((1.0, 3.0, "Hello, world"), (5.5, 8.0, "Second line\nin two rows"))


def mkv_two_audio_srt(path: Path, seconds: float = 20, keyframe_interval: float = 2) -> MediaFile:
    return make(
        path,
        container="matroska",
        seconds=seconds,
        keyframe_interval=keyframe_interval,
        audios=[AudioSpec("ac3", "5.1", "eng", "English 5.1"), AudioSpec("aac", "stereo", "fra")],
        subtitles=[SubtitleSpec("eng", SRT_CUES, "English")],
    )


def mkv_hevc_aac(path: Path, seconds: float = 10, keyframe_interval: float = 2) -> MediaFile:
    return make(
        path,
        container="matroska",
        seconds=seconds,
        keyframe_interval=keyframe_interval,
        video_codec="libx265",
        audios=[AudioSpec("aac", "stereo", "eng")],
    )


def mp4_h264_aac(path: Path, seconds: float = 10, keyframe_interval: float = 1) -> MediaFile:
    return make(
        path,
        container="mp4",
        seconds=seconds,
        keyframe_interval=keyframe_interval,
        audios=[AudioSpec("aac", "stereo", "und")],
        options={"movflags": "+faststart"},
    )


def big_mkv(path: Path, size: int = 200 << 20, keyframe_interval: float = 2) -> MediaFile:
    """About `size` bytes of MKV: lossless noise at 320x180, 25 fps costs about 5/3 of its
    raw size (3.6 MB a second, measured), so the duration follows from the size."""
    per_second = 320 * 180 * 3 // 2 * 25 * 5 // 3
    seconds = max(4.0, round(size / per_second / keyframe_interval) * keyframe_interval)
    return make(
        path,
        container="matroska",
        seconds=seconds,
        keyframe_interval=keyframe_interval,
        audios=[AudioSpec("ac3", "5.1", "eng")],
        noise=True,
    )
