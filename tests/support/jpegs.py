"""JPEG thumbnails for tests, made as the demo makes its own (PyAV's MJPEG encoder): a
picture of smooth bands that differ by `seed`, so two thumbnails are never the same bytes."""

from __future__ import annotations

from av.video.frame import VideoFrame

from tgemu.demo.thumbnail import encode_jpeg


def make_jpeg(width: int = 320, height: int = 180, seed: int = 0) -> bytes:
    """A width x height JPEG (even sides: its chroma is subsampled)."""
    frame = VideoFrame(width, height, "rgb24")
    plane = frame.planes[0]
    pixels = bytearray(plane.line_size * height)
    for y in range(height):
        row = y * plane.line_size
        for x in range(width):
            at = row + 3 * x
            pixels[at : at + 3] = bytes(
                ((x + seed * 37) % 256, (y * 2 + seed * 11) % 256, (x + y + seed * 5) % 256)
            )
    plane.update(bytes(pixels))
    return encode_jpeg(frame)
