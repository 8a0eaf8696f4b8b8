"""Players' recorded requests (tgbench/traces/*.json, made by `tgstream bench --record-trace`),
what a replay of one does, and the figures drawn from a replay: no I/O but reading a trace.

A trace is what one player asked of a server while a user seeked about a film: each request's
Range, when it was made, how many body bytes the player took and when it hung up.  A replay makes
the same requests at the same moments against any server, takes at most as many bytes as the
player took, and hangs up when the player did (a seek is the user's, not the server's: it comes
when it came, however slow the server was).  Between its last byte and its hang-up a request
stays open and unread, as a player whose buffer is full leaves it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .stats import percentile

TRACES = Path(__file__).parent / "traces"
FOUR_MIB = 4 << 20
_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


class TraceError(ValueError):
    """A trace file that is not one."""


def parse_range(header: str | None) -> tuple[int, int | None]:
    """(first, last) of a single `bytes=first-[last]` Range; no Range is the whole file."""
    if header is None:
        return 0, None
    m = _RANGE.fullmatch(header.strip())
    if m is None:
        raise TraceError(f"not a single byte range from a first byte: {header!r}")
    first, last = int(m.group(1)), int(m.group(2)) if m.group(2) else None
    if last is not None and last < first:
        raise TraceError(f"range ends before it starts: {header!r}")
    return first, last


@dataclass(frozen=True)
class Request:
    start_s: float  # since the player opened the film
    first: int
    last: int | None  # None: open-ended, as players ask
    read: int  # body bytes the player took
    end_s: float  # when it hung up or the body ended
    aborted: bool  # hung up before the body's end


@dataclass(frozen=True)
class Trace:
    name: str
    player: str
    file_bytes: int
    requests: tuple[Request, ...]

    def __post_init__(self) -> None:
        if self.file_bytes < 1:
            raise TraceError(f"{self.name}: file_bytes must be positive")
        if not self.requests:
            raise TraceError(f"{self.name}: no requests")
        for i, r in enumerate(self.requests):
            last = self.file_bytes - 1 if r.last is None else r.last
            if not 0 <= r.first <= last < self.file_bytes:
                raise TraceError(f"{self.name}: request {i} lies outside the file")
            if not 0 <= r.read <= last - r.first + 1:
                raise TraceError(f"{self.name}: request {i} took more than it asked for")
            if not 0 <= r.start_s <= r.end_s:
                raise TraceError(f"{self.name}: request {i} ends before it starts")
        starts = [r.start_s for r in self.requests]
        if starts != sorted(starts):
            raise TraceError(f"{self.name}: requests out of order")

    @property
    def seconds(self) -> float:
        return max(r.end_s for r in self.requests)


def from_json(name: str, doc: Any) -> Trace:
    """A trace from its JSON document, checked."""
    try:
        requests = tuple(
            Request(
                start_s=float(r["start_s"]),
                first=int(r["first"]),
                last=None if r["last"] is None else int(r["last"]),
                read=int(r["read"]),
                end_s=float(r["end_s"]),
                aborted=bool(r["aborted"]),
            )
            for r in doc["requests"]
        )
        return Trace(name, str(doc["player"]), int(doc["file_bytes"]), requests)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, TraceError):
            raise
        raise TraceError(f"{name}: not a trace ({exc!r})") from None


def load(path: Path) -> Trace:
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TraceError(f"{path}: {exc}") from None
    return from_json(path.stem, doc)


def committed() -> list[Trace]:
    """The traces shipped under tgbench/traces, by name."""
    return [load(p) for p in sorted(TRACES.glob("*.json"))]


def cut(trace: Trace, requests: int | None, speed: float) -> Trace:
    """The first `requests` of a trace (all if None), its clock run `speed` times faster:
    `--quick` checks bytes, not timing."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    kept = trace.requests[:requests] if requests is not None else trace.requests
    return Trace(
        trace.name,
        trace.player,
        trace.file_bytes,
        tuple(
            Request(r.start_s / speed, r.first, r.last, r.read, r.end_s / speed, r.aborted)
            for r in kept
        ),
    )


@dataclass(frozen=True)
class Outcome:
    """One replayed request: seconds from its start to its first byte and to its 4th MiB
    (None if they never came before the hang-up), bytes taken, its window's length."""

    ttfb: float | None
    to_4mib: float | None
    taken: int
    window: float
    error: str | None


def figures(trace: Trace, outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """First byte per seek (every request from a byte past 0: the player's jumps), time until
    4 MiB after a seek where the player took that much (a request hung up before it counts its
    whole window, a bound from below), bytes served and errors."""
    if len(outcomes) != len(trace.requests):
        raise ValueError("one outcome per request")
    seeks = [(r, o) for r, o in zip(trace.requests, outcomes, strict=True) if r.first > 0]
    ttfbs = [o.ttfb * 1000 for _, o in seeks if o.ttfb is not None]
    big = [o for r, o in seeks if r.read >= FOUR_MIB]
    to_4mib = [(o.to_4mib if o.to_4mib is not None else o.window) * 1000 for o in big]
    return {
        "requests": len(outcomes),
        "seeks": len(seeks),
        "ttfb_p50_ms": percentile(ttfbs, 50),
        "ttfb_p95_ms": percentile(ttfbs, 95),
        "to_4mib_p50_ms": percentile(to_4mib, 50),
        "to_4mib_p95_ms": percentile(to_4mib, 95),
        "seeks_short_of_4mib": sum(o.to_4mib is None for o in big),
        "served_bytes": sum(o.taken for o in outcomes),
        "errors": sum(o.error is not None for o in outcomes),
        "error_kinds": sorted({o.error for o in outcomes if o.error}),
    }
