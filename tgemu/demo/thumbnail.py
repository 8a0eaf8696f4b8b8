"""A video's thumbnail as Telegram's apps make one: a frame scaled to fit 320x320 px, JPEG.

Made with PyAV alone (its bundled FFmpeg decodes the frame and its MJPEG encoder writes the
JPEG), so the demo sends its sample with the thumbnail a phone would have attached.
"""

from __future__ import annotations

import pathlib
from fractions import Fraction

import av
from av.video.frame import VideoFrame

__all__ = ["MAX_SIDE", "encode_jpeg", "jpeg_of", "make_thumbnail"]

# Telegram keeps a document's thumbnail at most 320 px a side (its "m" size).
MAX_SIDE = 320
# MJPEG's quantiser scale, 2 (best) .. 31: a 320 px picture stays a few kB and sharp.
_QUALITY = 4


def make_thumbnail(video: pathlib.Path, at_seconds: float = 5.0) -> bytes:
    """A JPEG of the first frame shown at or after `at_seconds` (the last frame of a shorter
    video), scaled to fit MAX_SIDE with its aspect kept and even sides."""
    return jpeg_of(_frame_at(video, at_seconds))


def jpeg_of(frame: VideoFrame) -> bytes:
    """A frame as a thumbnail: scaled to fit MAX_SIDE (aspect kept, even sides), JPEG."""
    scale = min(1.0, MAX_SIDE / max(frame.width, frame.height))
    width = max(2, int(frame.width * scale) // 2 * 2)
    height = max(2, int(frame.height * scale) // 2 * 2)
    return encode_jpeg(frame.reformat(width=width, height=height))


def encode_jpeg(frame: VideoFrame) -> bytes:
    """A frame, at its own size, as a JPEG."""
    # yuvj420p: full-range YUV, the pixel format JPEG files carry.
    picture = frame.reformat(format="yuvj420p")
    picture.pts = 0
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = picture.width, picture.height
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = Fraction(1, 1)
    encoder.options = {"qmin": str(_QUALITY), "qmax": str(_QUALITY)}
    packets = [*encoder.encode(picture), *encoder.encode(None)]
    return b"".join(bytes(packet) for packet in packets)


def _frame_at(video: pathlib.Path, at_seconds: float) -> VideoFrame:
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        if stream.time_base is not None and at_seconds > 0:
            # To the keyframe before the time; decoding runs on from there.
            container.seek(int(at_seconds / stream.time_base), stream=stream)
        chosen: VideoFrame | None = None
        for frame in container.decode(stream):
            chosen = frame
            if frame.time is not None and frame.time >= at_seconds:
                break
    if chosen is None:
        raise ValueError(f"{video} has no video frame")
    return chosen
