"""A synthetic sample video for the demo: a big clock, a frame counter, a progress bar, a tone.

Every frame shows its own elapsed time as "MM:SS.f", so a glance (or a screenshot) after a seek
tells whether the player landed where it was asked to. Frames are drawn as raw yuv420p bytes in
plain Python (seven-segment digits built from rectangles) and encoded with the codecs bundled
in PyAV's wheels, so no ffmpeg binary, font or imaging library is needed.
"""

from __future__ import annotations

import math
import os
import pathlib
import random
import tempfile
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

__all__ = ["cached_sample", "make_sample_video", "sample_name"]

Progress = Callable[[float], None]

# Limited-range BT.601 levels: untagged yuv420p H.264 is decoded as limited range, so values
# outside 16..235 would just be clipped by the player.
_WHITE = 235
_PANEL = 24
_NEUTRAL = 128
_BAR_EMPTY = 40
_BAR_FILL_YUV = (152, 50, 188)  # orange

# Background chroma (U, V) per 10 s segment: the picture's tint changes together with the
# tone's pitch, which makes a wrong seek visible even without reading the clock.
_TINTS = ((150, 118), (138, 104), (116, 110), (108, 134), (142, 142), (120, 150))

_SAMPLE_RATE = 48_000
_AUDIO_BLOCK = 1024  # AAC's frame size
_BYTES_PER_SAMPLE = 4  # fltp: native float32
_SEGMENT_SECONDS = 10
_TONE_VOLUME = 0.08
# Whole cycles per audio block (375 Hz upwards at 48 kHz): every block then starts and ends at
# phase 0, so one precomputed block per pitch is exact and the pitch changes never click.
_TONE_CYCLES = (8, 10, 12, 14, 16, 18)

_SCROLL_PX_PER_FRAME = 2
_TEXTURE_SEED = 20240601

_SEVEN_SEGMENTS = {
    "0": "abcdef",
    "1": "bc",
    "2": "abdeg",
    "3": "abcdg",
    "4": "bcfg",
    "5": "acdfg",
    "6": "acdefg",
    "7": "abc",
    "8": "abcdefg",
    "9": "abcdfg",
}

# Bumped whenever the picture or encoding changes, so a cache never serves an old rendering.
_FORMAT_VERSION = 1

_Glyph = list[bytes]
_Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive ends)


def sample_name(seconds: int = 60, width: int = 640, height: int = 360, fps: int = 24) -> str:
    """File name that identifies a sample by everything that shapes its content."""
    return f"sample-{seconds}s-{width}x{height}-{fps}fps-v{_FORMAT_VERSION}.mp4"


def cached_sample(
    cache_dir: pathlib.Path,
    progress: Progress | None = None,
    *,
    seconds: int = 60,
    width: int = 640,
    height: int = 360,
    fps: int = 24,
) -> pathlib.Path:
    """Return the sample under `cache_dir`, making it first if it is not there yet."""
    target = cache_dir / sample_name(seconds, width, height, fps)
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Same directory, so the final rename is atomic and a crash never leaves a half file
    # under the name that is trusted above.
    fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=f".{target.stem}-", suffix=".part")
    os.close(fd)
    tmp = pathlib.Path(tmp_name)
    try:
        make_sample_video(tmp, seconds, width, height, fps, progress)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def make_sample_video(
    path: pathlib.Path,
    seconds: int = 60,
    width: int = 640,
    height: int = 360,
    fps: int = 24,
    progress: Progress | None = None,
) -> pathlib.Path:
    """Write a browser-playable, quickly seekable MP4 (H.264 + AAC) of `seconds` to `path`."""
    if seconds < 1 or fps < 1:
        raise ValueError("seconds and fps must be positive")
    if width < 128 or height < 72 or width % 2 or height % 2:
        raise ValueError("width and height must be even and at least 128x72")
    total_frames = seconds * fps
    painter = _Painter(width, height, total_frames, fps)
    tones = [_tone_block(cycles) for cycles in _TONE_CYCLES]
    total_samples = seconds * _SAMPLE_RATE
    next_sample = 0
    reported = 0

    # The format is named because cached_sample writes to a ".part" name; faststart puts the
    # moov box first so a browser can start playing and seeking before it has the whole file.
    with av.open(
        str(path), "w", format="mp4", container_options={"movflags": "+faststart"}
    ) as container:
        video, audio = _add_streams(container, width, height, fps)
        for index in range(total_frames):
            _mux(container, video.encode(painter.frame(index)))
            # Audio is kept level with the video so the muxer interleaves them closely, which
            # lets a player that seeks read both from one nearby byte range.
            video_end = (index + 1) * _SAMPLE_RATE // fps
            while next_sample < min(video_end, total_samples):
                count = min(_AUDIO_BLOCK, total_samples - next_sample)
                segment = next_sample // (_SAMPLE_RATE * _SEGMENT_SECONDS)
                block = tones[segment % len(tones)][: count * _BYTES_PER_SAMPLE]
                _mux(container, audio.encode(_audio_frame(block, count, next_sample)))
                next_sample += count
            step = (index + 1) * 100 // total_frames
            if progress is not None and step != reported:
                reported = step
                progress((index + 1) / total_frames)
        _mux(container, video.encode(None))
        _mux(container, audio.encode(None))
    return path


def _add_streams(
    container: OutputContainer, width: int, height: int, fps: int
) -> tuple[VideoStream, AudioStream]:
    video = container.add_stream(
        "libx264",
        rate=fps,
        options={
            # Main rather than x264's default High: the profile every H.264-capable browser
            # decoder handles, hardware ones included.
            "profile": "main",
            "preset": "veryfast",
            "crf": "24",
            # Scene cuts would only add keyframes at odd places; gop_size below already
            # caps the distance between them.
            "x264-params": "scenecut=0",
        },
    )
    video.width = width
    video.height = height
    video.pix_fmt = "yuv420p"
    # A keyframe every second: a seek lands within 1 s of its target and the player decodes
    # at most one second of frames to show it.
    video.gop_size = fps
    video.codec_context.time_base = Fraction(1, fps)

    audio = container.add_stream("aac", rate=_SAMPLE_RATE)
    audio.layout = "mono"
    audio.bit_rate = 64_000
    return video, audio


def _mux(container: OutputContainer, packets: Sequence[av.Packet[Any]]) -> None:
    for packet in packets:
        container.mux(packet)


def _tone_block(cycles: int) -> bytes:
    step = 2 * math.pi * cycles / _AUDIO_BLOCK
    samples = array("f", (_TONE_VOLUME * math.sin(step * n) for n in range(_AUDIO_BLOCK)))
    return samples.tobytes()


def _audio_frame(data: bytes, samples: int, pts: int) -> AudioFrame:
    frame = AudioFrame(format="fltp", layout="mono", samples=samples)
    frame.planes[0].update(data)
    frame.sample_rate = _SAMPLE_RATE
    frame.pts = pts
    frame.time_base = Fraction(1, _SAMPLE_RATE)
    return frame


def _even(value: float) -> int:
    return 2 * round(value / 2)


def _fill(rows: list[bytearray], rect: _Rect, value: int) -> None:
    x0, y0, x1, y1 = rect
    run = bytes([value]) * (x1 - x0)
    for y in range(y0, y1):
        rows[y][x0:x1] = run


def _digit_glyph(digit: str, width: int, height: int, thick: int) -> _Glyph:
    rows = [bytearray([_PANEL]) * width for _ in range(height)]
    gap = max(1, thick // 5)
    mid = height // 2
    top = mid - thick // 2
    segments: dict[str, _Rect] = {
        "a": (thick + gap, 0, width - thick - gap, thick),
        "b": (width - thick, gap, width, mid - gap),
        "c": (width - thick, mid + gap, width, height - gap),
        "d": (thick + gap, height - thick, width - thick - gap, height),
        "e": (0, mid + gap, thick, height - gap),
        "f": (0, gap, thick, mid - gap),
        "g": (thick + gap, top, width - thick - gap, top + thick),
    }
    for name in _SEVEN_SEGMENTS[digit]:
        _fill(rows, segments[name], _WHITE)
    return [bytes(row) for row in rows]


def _dots_glyph(height: int, thick: int, centres: Sequence[float]) -> _Glyph:
    rows = [bytearray([_PANEL]) * thick for _ in range(height)]
    for centre in centres:
        y0 = min(height - thick, max(0, round(height * centre - thick / 2)))
        _fill(rows, (0, y0, thick, y0 + thick), _WHITE)
    return [bytes(row) for row in rows]


@dataclass(frozen=True)
class _Font:
    glyphs: dict[str, _Glyph]
    spacing: bytes
    height: int

    @classmethod
    def build(cls, height: int) -> _Font:
        width = max(4, round(height * 0.5))
        thick = max(2, round(height * 0.11))
        glyphs = {d: _digit_glyph(d, width, height, thick) for d in _SEVEN_SEGMENTS}
        glyphs[":"] = _dots_glyph(height, thick, (0.3, 0.72))
        glyphs["."] = _dots_glyph(height, thick, (1.0,))
        spacing = bytes([_PANEL]) * max(2, round(height * 0.12))
        return cls(glyphs, spacing, height)

    def width(self, text: str) -> int:
        glyph_widths = sum(len(self.glyphs[ch][0]) for ch in text)
        return glyph_widths + len(self.spacing) * (len(text) - 1)

    def render(self, text: str) -> _Glyph:
        glyphs = [self.glyphs[ch] for ch in text]
        return [self.spacing.join(g[row] for g in glyphs) for row in range(self.height)]


class _Panel:
    """A dark box of fixed size with one line of seven-segment text centred in it."""

    def __init__(self, font: _Font, sample_text: str, pad: int, x_centre: float, y0: float) -> None:
        self.font = font
        self.text_width = font.width(sample_text)
        self.pad = pad
        self.width = self.text_width + 2 * pad
        self.height = font.height + 2 * pad
        self.x0 = _even(x_centre - self.width / 2)
        self.y0 = _even(y0)
        self.x1 = self.x0 + self.width
        self.y1 = self.y0 + self.height
        self._blank = bytes([_PANEL]) * self.width
        self._side = bytes([_PANEL]) * pad

    def rows(self, text: str) -> _Glyph:
        lines = [self._side + line + self._side for line in self.font.render(text)]
        return [self._blank] * self.pad + lines + [self._blank] * self.pad


class _Painter:
    """Draws frame `index` of the sample as a yuv420p VideoFrame."""

    def __init__(self, width: int, height: int, total_frames: int, fps: int) -> None:
        self.width = width
        self.height = height
        self.total_frames = total_frames
        self.fps = fps
        unit = min(width / 640, height / 360)

        clock_font = _Font.build(max(12, round(110 * unit)))
        clock_pad = round(16 * unit)
        # A little above the middle, leaving the bottom to the progress bar.
        clock_y0 = (height - clock_font.height - 2 * clock_pad) * 0.42
        self.clock = _Panel(clock_font, "00:00.0", clock_pad, width / 2, clock_y0)

        self.counter_digits = max(4, len(str(total_frames - 1)))
        counter_font = _Font.build(max(8, round(26 * unit)))
        margin = max(4, _even(16 * unit))
        counter_pad = round(6 * unit)
        counter_width = counter_font.width("0" * self.counter_digits) + 2 * counter_pad
        self.counter = _Panel(
            counter_font,
            "0" * self.counter_digits,
            counter_pad,
            width - margin - counter_width / 2,
            margin,
        )

        bar_height = max(6, _even(18 * unit))
        self.bar = (margin, height - margin - bar_height, width - margin, height - margin)
        self.bar_border = 2
        panels = (self.clock, self.counter)
        if any(p.x0 < 0 or p.x1 > width for p in panels) or self.clock.y1 > self.bar[1]:
            raise ValueError(f"{width}x{height} is too small for the sample's layout")
        self._texture = self._make_texture()
        self._chroma = [self._make_chroma(u, v) for u, v in _TINTS]

    def _make_texture(self) -> list[bytes]:
        """Rows of a diagonal-striped, grainy background, each twice wide for cheap scrolling.

        The grain gives the encoder real detail to spend bits on, which keeps the file in the
        few-megabyte range that exercises the server's chunked range streaming.
        """
        width = self.width
        rng = random.Random(_TEXTURE_SEED)
        waves = max(1, round(width / 90))
        wave = [round(14 * math.sin(2 * math.pi * waves * x / width)) for x in range(width)]
        rows = []
        for y in range(self.height):
            base = 56 + 34 * y // self.height
            grain = rng.randbytes(width)
            row = bytes(base + wave[(x + y) % width] + (grain[x] & 15) - 8 for x in range(width))
            rows.append(row + row)
        return rows

    def _make_chroma(self, u: int, v: int) -> tuple[list[bytes], list[bytes]]:
        half_w, half_h = self.width // 2, self.height // 2
        planes = []
        for value in (u, v):
            rows = [bytearray([value]) * half_w for _ in range(half_h)]
            # Panels stay neutral so the digits read as white, not tinted.
            for p in (self.clock, self.counter):
                _fill(rows, (p.x0 // 2, p.y0 // 2, (p.x1 + 1) // 2, (p.y1 + 1) // 2), _NEUTRAL)
            planes.append([bytes(row) for row in rows])
        return planes[0], planes[1]

    def frame(self, index: int) -> VideoFrame:
        frame = VideoFrame(self.width, self.height, "yuv420p")
        segment = index // (self.fps * _SEGMENT_SECONDS)
        chroma_u, chroma_v = self._chroma[segment % len(self._chroma)]
        filled = self._bar_fill(index)
        planes = (
            self._luma(index, filled),
            self._bar_chroma(chroma_u, filled, _BAR_FILL_YUV[1]),
            self._bar_chroma(chroma_v, filled, _BAR_FILL_YUV[2]),
        )
        for plane, rows in zip(frame.planes, planes, strict=True):
            pad = bytes(plane.line_size - len(rows[0]))
            plane.update(pad.join(rows) + pad)
        return frame

    def _bar_fill(self, index: int) -> int:
        x0, _, x1, _ = self.bar
        inner = x1 - x0 - 2 * self.bar_border
        return _even(inner * (index + 1) / self.total_frames)

    def _clock_text(self, index: int) -> str:
        tenths = index * 10 // self.fps
        minutes, rest = divmod(tenths, 600)
        return f"{minutes % 100:02d}:{rest // 10:02d}.{rest % 10}"

    def _luma(self, index: int, filled: int) -> list[bytes]:
        offset = (index * _SCROLL_PX_PER_FRAME) % self.width
        rows = [row[offset : offset + self.width] for row in self._texture]
        for panel, text in (
            (self.clock, self._clock_text(index)),
            (self.counter, f"{index:0{self.counter_digits}d}"),
        ):
            for y, line in enumerate(panel.rows(text), start=panel.y0):
                rows[y] = rows[y][: panel.x0] + line + rows[y][panel.x1 :]

        x0, y0, x1, y1 = self.bar
        border = self.bar_border
        inner = x1 - x0 - 2 * border
        edge = bytes([_WHITE]) * (x1 - x0)
        side = bytes([_WHITE]) * border
        middle = (
            side
            + bytes([_BAR_FILL_YUV[0]]) * filled
            + bytes([_BAR_EMPTY]) * (inner - filled)
            + side
        )
        for y in range(y0, y1):
            line = middle if y0 + border <= y < y1 - border else edge
            rows[y] = rows[y][:x0] + line + rows[y][x1:]
        return rows

    def _bar_chroma(self, base: list[bytes], filled: int, fill_value: int) -> list[bytes]:
        x0, y0, x1, y1 = (edge // 2 for edge in self.bar)
        inner_start = x0 + self.bar_border // 2
        fill_end = inner_start + filled // 2
        rows = list(base)
        fill = bytes([fill_value]) * (fill_end - inner_start)
        neutral_before = bytes([_NEUTRAL]) * (inner_start - x0)
        neutral_after = bytes([_NEUTRAL]) * (x1 - fill_end)
        for y in range(y0, y1):
            row = base[y]
            rows[y] = row[:x0] + neutral_before + fill + neutral_after + row[x1:]
        return rows
