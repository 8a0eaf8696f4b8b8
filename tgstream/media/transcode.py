"""One HLS segment made with PyAV (blocking: run it in a worker thread, over a RangedReader
bounded to the segment's bytes).

- video: the packets from the segment's first keyframe up to the next cut, copied into
  MPEG-TS (libavformat's automatic bitstream filters turn H.264/HEVC into Annex B there);
- audio: one track decoded and encoded as AAC-LC stereo 48 kHz into MPEG-TS: the packets
  that start in the segment, so consecutive segments join without gap or overlap (a seek
  lands on the segment's cluster, whose first packet is the first one the segment needs; a
  track that is AAC stereo already is copied, packet by packet);
- subtitles: one text track's cues that start in the segment, as WebVTT.

Timestamps stay the file's own, plus playlists.MPEGTS_OFFSET, in every rendition: segments
line up with each other, and a seek lands where the playlist says.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import av
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.stream import Stream

from .inspect import open_input
from .playlists import AAC_BIT_RATE, MPEGTS_OFFSET
from .probe import MediaProbe, Unreadable
from .segments import Made, Segment
from .vtt import Cue, cue_text, webvtt

RATE = 48_000
AAC_FRAME = 1024
# Keyframes found this close to a cut are taken as it: MP4's index gives decoding times, its
# packets presentation times, a few frames apart.
CUT_TOLERANCE = 0.2
# A subtitle packet that says nothing about its duration shows this long.
DEFAULT_CUE = 4.0


def _seek(container: InputContainer, probe: MediaProbe, segment: Segment) -> None:
    """To the segment's start, by the video index (Matroska indexes video only)."""
    if segment.index == 0:
        return
    streams = container.streams
    video = probe.video()
    anchor: Stream | None = None
    if video is not None and video.index < len(streams):
        anchor = streams[video.index]
    elif streams.audio:
        anchor = streams.audio[0]
    if anchor is None or anchor.time_base is None:
        return
    container.seek(round(segment.start / anchor.time_base), stream=anchor, backward=True)


def _time(packet: av.Packet[Any]) -> float | None:
    stamp = packet.pts if packet.pts is not None else packet.dts
    if stamp is None or packet.time_base is None:
        return None
    return float(stamp * packet.time_base)


def _starting_in(
    container: InputContainer, source: Any, segment: Segment
) -> Iterator[tuple[av.Packet[Any], float]]:
    """The packets of `source` that start in the segment, with their start: one that
    straddles a cut belongs to the segment it starts in, so consecutive segments share none
    and miss none.  The container has been sought to the segment's start already."""
    for packet in container.demux(source):
        at = _time(packet)
        if at is None:
            continue
        if at >= segment.end and not segment.last:
            return
        if at < segment.start - 1e-6 and segment.index > 0:
            continue
        yield packet, at


def _remux(out: OutputContainer, target: Stream, packet: av.Packet[Any], shift: int) -> None:
    """A packet copied into the output stream `target`, its timestamps moved by `shift`
    (MPEGTS_OFFSET in the packet's time base)."""
    if packet.pts is not None:
        packet.pts += shift
    if packet.dts is not None:
        packet.dts += shift
    packet.stream = target
    out.mux(packet)


def _ts_output() -> tuple[io.BytesIO, OutputContainer]:
    buffer = io.BytesIO()
    return buffer, av.open(buffer, "w", format="mpegts")


def video_segment(file: Any, probe: MediaProbe, segment: Segment) -> Made:
    clock = time.thread_time()
    track = probe.video()
    if track is None:
        raise Unreadable("no video in this file")
    container = open_input(file)
    try:
        source = container.streams[track.index]
        base = source.time_base
        if base is None:
            raise Unreadable("the video stream has no time base")
        shift = round(MPEGTS_OFFSET / base)
        buffer, out = _ts_output()
        with out:
            target = out.add_stream_from_template(source)
            _seek(container, probe, segment)
            started = False
            for packet in container.demux(source):
                at = _time(packet)
                if at is None:
                    continue
                if packet.is_keyframe:
                    if not started and (segment.index == 0 or at >= segment.start - CUT_TOLERANCE):
                        started = True
                    elif started and not segment.last and at >= segment.end - CUT_TOLERANCE:
                        break
                if not started:
                    continue
                _remux(out, target, packet, shift)
        return Made(buffer.getvalue(), time.thread_time() - clock)
    except av.FFmpegError as exc:
        raise Unreadable(f"cannot read the video ({exc.strerror or exc})") from None
    finally:
        container.close()


def audio_segment(file: Any, probe: MediaProbe, segment: Segment, track: int) -> Made:
    clock = time.thread_time()
    container = open_input(file)
    try:
        if track >= len(container.streams) or container.streams[track].type != "audio":
            raise Unreadable(f"no audio track {track}")
        source = container.streams[track]
        assert isinstance(source, AudioStream)
        if _is_aac_stereo(source):
            return _copy_audio(container, source, probe, segment, clock)
        buffer, out = _ts_output()
        with out:
            encoder = out.add_stream("aac", rate=RATE)
            encoder.layout = "stereo"
            encoder.bit_rate = AAC_BIT_RATE
            encoder.codec_context.time_base = Fraction(1, RATE)
            writer = _AudioWriter(out, encoder)
            _seek(container, probe, segment)
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
            for packet, at in _starting_in(container, source, segment):
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    continue  # a damaged packet: its samples are skipped
                for frame in frames:
                    if not isinstance(frame, av.AudioFrame):
                        continue
                    when: float | None = frame.time if frame.time is not None else at
                    for piece in resampler.resample(frame):
                        writer.write(piece, when)
                        when = None
            for piece in resampler.resample(None):
                writer.write(piece, None)
            writer.finish()
        return Made(buffer.getvalue(), time.thread_time() - clock, writer.written / RATE)
    except av.FFmpegError as exc:
        raise Unreadable(f"cannot read the audio ({exc.strerror or exc})") from None
    finally:
        container.close()


def _is_aac_stereo(stream: AudioStream) -> bool:
    context = stream.codec_context
    return context.codec.canonical_name == "aac" and context.channels == 2


def _copy_audio(
    container: InputContainer,
    source: AudioStream,
    probe: MediaProbe,
    segment: Segment,
    clock: float,
) -> Made:
    """AAC stereo already: its packets that start in the segment, copied (consecutive
    segments share none and miss none); no CPU spent on sound a browser decodes as it is."""
    buffer, out = _ts_output()
    with out:
        target = out.add_stream_from_template(source)
        _seek(container, probe, segment)
        for packet, _ in _starting_in(container, source, segment):
            # time_base is set on every packet _starting_in yields.
            _remux(out, target, packet, round(MPEGTS_OFFSET / packet.time_base))
    return Made(buffer.getvalue(), time.thread_time() - clock)


class _AudioWriter:
    """Decoded samples in, AAC frames out, stamped from the first sample's time on."""

    def __init__(self, out: OutputContainer, encoder: AudioStream) -> None:
        self.out = out
        self.encoder = encoder
        self.fifo = av.AudioFifo()
        self.at: int | None = None  # sample number of the FIFO's first sample
        self.written = 0
        self.shift = round(MPEGTS_OFFSET * RATE)

    def write(self, frame: av.AudioFrame, when: float | None) -> None:
        if self.at is None:
            if when is None:
                return
            self.at = round(when * RATE)
        frame.pts = None  # the FIFO checks continuity of stamped frames; we count ourselves
        self.fifo.write(frame)
        self._drain(final=False)

    def _drain(self, final: bool) -> None:
        assert self.at is not None
        while self.fifo.samples >= AAC_FRAME or (final and self.fifo.samples):
            frame = self.fifo.read(min(AAC_FRAME, self.fifo.samples))
            if frame is None:
                return
            frame.pts = self.at + self.shift
            frame.time_base = Fraction(1, RATE)
            frame.sample_rate = RATE
            self._mux(self.encoder.encode(frame))
            self.at += frame.samples
            self.written += frame.samples

    def finish(self) -> None:
        if self.at is not None:
            self._drain(final=True)
        self._mux(self.encoder.encode(None))

    def _mux(self, packets: list[av.Packet[Any]]) -> None:
        for packet in packets:
            # The encoder's priming starts before the first frame; before 0 the muxer
            # would shift the whole segment.
            if packet.pts is not None and packet.pts < 0:
                continue
            self.out.mux(packet)


def subtitle_segment(file: Any, probe: MediaProbe, segment: Segment, track: int) -> Made:
    clock = time.thread_time()
    container = open_input(file)
    try:
        if track >= len(container.streams) or container.streams[track].type != "subtitle":
            raise Unreadable(f"no subtitle track {track}")
        source = container.streams[track]
        codec = source.codec_context.name if source.codec_context is not None else ""
        _seek(container, probe, segment)
        cues = []
        for packet, at in _starting_in(container, source, segment):
            if not packet.size:
                continue
            length = (
                float(packet.duration * packet.time_base)
                if packet.duration and packet.time_base is not None
                else DEFAULT_CUE
            )
            cues.append(Cue(at, at + length, cue_text(codec, bytes(packet))))
        return Made(webvtt(cues).encode(), time.thread_time() - clock)
    except av.FFmpegError as exc:
        raise Unreadable(f"cannot read the subtitles ({exc.strerror or exc})") from None
    finally:
        container.close()
