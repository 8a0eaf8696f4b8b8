"""WebVTT text of subtitle cues (a segment's worth), for HLS: pure, no I/O.

The X-TIMESTAMP-MAP header ties the cues' times to the MPEG-TS timestamps of the media
segments (RFC 8216 3.5), which carry every time plus playlists.MPEGTS_OFFSET.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .playlists import MPEGTS_OFFSET

MPEGTS_CLOCK = 90_000

# An ASS dialogue line as Matroska stores it: ReadOrder, Layer, Style, Name, MarginL,
# MarginR, MarginV, Effect, Text (the text may hold commas).
_ASS_FIELDS = 9
_ASS_OVERRIDE = re.compile(r"\{[^}]*\}")
# Markup WebVTT shares with SRT, kept through escaping.
_KEPT_TAG = re.compile(r"&lt;(/?[biu])&gt;", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Cue:
    start: float  # seconds, the file's own timeline
    end: float
    text: str


def cue_text(codec: str, payload: bytes) -> str:
    """A cue's plain text from a subtitle packet of `codec` (subrip, ass/ssa, webvtt...)."""
    text = payload.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    if codec in ("ass", "ssa"):
        fields = text.split(",", _ASS_FIELDS - 1)
        text = fields[-1] if len(fields) == _ASS_FIELDS else text
        text = _ASS_OVERRIDE.sub("", text)
        text = text.replace("\\N", "\n").replace("\\n", "\n").replace("\\h", " ")
    elif codec in ("subrip", "srt"):
        # SRT's markup that WebVTT has too (<b>, <i>, <u>) is kept; <font> is dropped.
        text = re.sub(r"</?font[^>]*>", "", text, flags=re.IGNORECASE)
    return text.strip("\n")


def _escape(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _KEPT_TAG.sub(lambda m: f"<{m[1].lower()}>", text)
    # A blank line would end the cue.
    return "\n".join(line for line in text.split("\n") if line.strip()) or " "


def timestamp(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def webvtt(cues: list[Cue]) -> str:
    """A WebVTT file of `cues` (sorted by start), mapped to the segments' MPEG-TS clock."""
    mpegts = round(MPEGTS_OFFSET * MPEGTS_CLOCK)
    lines = ["WEBVTT", f"X-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000", ""]
    for cue in sorted(cues, key=lambda c: (c.start, c.end)):
        end = max(cue.end, cue.start + 0.001)
        lines += [f"{timestamp(cue.start)} --> {timestamp(end)}", _escape(cue.text), ""]
    return "\n".join(lines)
