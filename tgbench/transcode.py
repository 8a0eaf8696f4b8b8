"""CPU per second of transcoded audio (`tgstream bench --transcode`): one tgstream server makes
every audio segment of a film with AC3 5.1 sound (HLS: AAC-LC stereo 48 kHz out), one after
another, and its own counters say how much CPU the jobs' worker threads took for how many
seconds of audio.  The film is made here with PyAV (a small grey picture, a tone)."""

from __future__ import annotations

import math
import time
from array import array
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
from av.audio.frame import AudioFrame
from av.video.frame import VideoFrame

from tgemu.launch import EmulatorProcess
from tgstream import links

from .lineup import SECRET, Server, lineup
from .scenarios import DC

RATE = 48_000
BLOCK = 1536  # samples per AC3 frame


def make_film(path: Path, seconds: int) -> Path:
    """An MKV: 160x90 grey H.264 at 10 fps, a keyframe every 2 s, AC3 5.1 at 48 kHz."""
    tone = array("f", (0.2 * math.sin(2 * math.pi * 12 * n / BLOCK) for n in range(BLOCK)))
    with av.open(str(path), "w", format="matroska") as out:
        video = out.add_stream("libx264", rate=10, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt, video.gop_size = 160, 90, "yuv420p", 20
        audio = out.add_stream("ac3", rate=RATE)
        audio.layout = "5.1"
        picture = VideoFrame(160, 90, "yuv420p")
        for plane in picture.planes:
            plane.update(bytes([128]) * plane.buffer_size)
        samples = 0
        for index in range(seconds * 10):
            picture.pts, picture.time_base = index, Fraction(1, 10)
            for packet in video.encode(picture):
                out.mux(packet)
            while samples < (index + 1) * RATE // 10:
                frame = AudioFrame(format="fltp", layout="5.1", samples=BLOCK)
                data = tone.tobytes()
                for channel in frame.planes:
                    channel.update(data + bytes(channel.buffer_size - len(data)))
                frame.sample_rate, frame.pts, frame.time_base = RATE, samples, Fraction(1, RATE)
                for packet in audio.encode(frame):
                    out.mux(packet)
                samples += BLOCK
        for stream in (video, audio):
            for packet in stream.encode(None):
                out.mux(packet)
    return path


def _sample(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def run(emu: EmulatorProcess, seconds: int, base: Path, say: Any) -> dict[str, Any]:
    say(f"transcode: {seconds} s of AC3 5.1 to AAC stereo, segment by segment ...")
    film = make_film(base / "transcode.mkv", seconds)
    posted = emu.post_to_channel(film, DC, "transcode.mkv", mime_type="video/x-matroska")
    message_id = posted["message_id"]
    tgstream = next(c for c in lineup() if c.name == "tgstream")
    server = Server(
        replace(tgstream, name="tgstream-hls", env={"TRANSCODE_SLOTS": "1"}), emu, base / "hls"
    )
    server.start()
    query = f"?sig={links.sign(message_id, SECRET)}"
    errors: list[str] = []
    try:
        with httpx.Client(base_url=f"{server.url}/hls/{message_id}", timeout=120) as http:
            master = http.get(f"index.m3u8{query}")
            master.raise_for_status()
            playlist = http.get(f"a1/index.m3u8{query}")
            playlist.raise_for_status()
            segments = [line for line in playlist.text.splitlines() if line.endswith(query)]
            began = time.monotonic()
            for segment in segments:
                answer = http.get(f"a1/{segment}")
                if answer.status_code != 200:
                    errors.append(f"{segment}: {answer.status_code}")
            wall = time.monotonic() - began
            metrics = http.get(f"{server.url}/metrics").text
    finally:
        server.stop()
    cpu = _sample(metrics, 'tgstream_transcode_cpu_seconds_total{kind="audio"}')
    audio = _sample(metrics, "tgstream_transcoded_audio_seconds_total")
    return {
        "audio_seconds": audio,
        "cpu_seconds": cpu,
        "cpu_per_audio_second": cpu / audio if audio else math.nan,
        "wall_seconds": wall,
        "segments": len(segments),
        "errors": errors,
        "bytes_correct": not errors and audio > 0,
    }


def table(row: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"HLS audio transcode, AC3 5.1 -> AAC-LC stereo 48 kHz, {row['segments']} segments,"
            " one slot:",
            f"  {row['audio_seconds']:.1f} s of audio in {row['cpu_seconds']:.2f} CPU s"
            f" ({row['wall_seconds']:.1f} s wall, fetches included)",
            f"  CPU seconds per second of transcoded audio: {row['cpu_per_audio_second']:.4f}"
            f" ({1 / row['cpu_per_audio_second'] if row['cpu_per_audio_second'] else 0:.0f}x"
            " real time on one core)",
            f"  errors: {', '.join(row['errors']) or 'none'}",
        ]
    )
