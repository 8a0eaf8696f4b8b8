"""Checking an upload.getFile answer against Telegram's own SHA-256 ranges. Pure: no I/O.

upload.getFileHashes answers `FileHash(offset, limit, hash)` items: the SHA-256 of `limit`
bytes of the file at `offset` (core.telegram.org/constructor/fileHash), consecutive ranges
that Telegram cuts at 128 KiB, eight a call.  Nothing here relies on that size: a part is
checked against every range it touches, whatever their sizes.

* A part that holds whole ranges is checked range by range.
* A part that holds only a piece of a range (a small first part, a 4 KiB probe) cannot be
  checked on its own: the request is widened (`widen`) to the smallest Telegram-legal one
  holding those ranges, and the part is cut out of the checked answer.
* At the end of the file an answer is short.  A range the answer reaches into but not past
  is hashed over the bytes the answer has: if the file really ends there the hash matches
  (Telegram's last range may be cut at the end or not; TDLib's FileDownloader hashes only
  the bytes the file has, too), and if the answer was cut short it does not.  A range the
  answer does not reach at all means bytes are missing.
* Past the last range there are no bytes: an answer that has some there fails.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

# Telegram's largest getFile limit, and the block no request may straddle
# (core.telegram.org/api/files).  The streaming layer's planner states the same rules.
MAX_REQUEST: Final = 1 << 20
_MIN_REQUEST: Final = 4096


@dataclass(frozen=True, slots=True)
class HashRange:
    """One FileHash: the SHA-256 of bytes [offset, offset + limit) of the file."""

    offset: int
    limit: int
    digest: bytes

    @property
    def end(self) -> int:
        return self.offset + self.limit


@dataclass(frozen=True, slots=True)
class Coverage:
    """The ranges that cover [start, stop) of a file, in order, from the one holding `start`.

    `ends_at` is set when the file has no range from there on (so no bytes): the ranges then
    stop before `stop`.  Otherwise they reach `stop` or past it.
    """

    ranges: tuple[HashRange, ...]
    ends_at: int | None = None


def widen(offset: int, limit: int, coverage: Coverage) -> tuple[int, int] | None:
    """The smallest non-precise getFile (offset, limit) that holds [offset, offset + limit)
    and every range of `coverage`, or None if no single legal request does (ranges that
    straddle a 1 MiB block).  `offset` and `limit` are a legal request themselves
    (a power-of-two limit at a multiple of it), so with no piece of a range outside them
    they come back unchanged."""
    low, high = offset, offset + limit
    if coverage.ranges:
        low = min(low, coverage.ranges[0].offset)
        high = max(high, coverage.ranges[-1].end)
    size = max(limit, _MIN_REQUEST)
    while size <= MAX_REQUEST:
        base = low - low % size
        if base + size >= high:
            return base, size
        size *= 2
    return None


def holds(request: tuple[int, int], answered: int, coverage: Coverage) -> bool:
    """Whether an answer of `answered` bytes to getFile `request` holds every range of
    `coverage`: each starts inside the request and ends inside it, or past the end of
    the file (the answer is short).  Then `mismatch` can judge it as it is."""
    at, limit = request
    return all(
        at <= r.offset and (r.end <= at + limit or answered < limit) for r in coverage.ranges
    )


def mismatch(
    wanted: tuple[int, int], request: tuple[int, int], data: bytes, coverage: Coverage
) -> str | None:
    """Why `data`, the answer to getFile `request` (offset, limit), fails the hashes that
    cover the `wanted` part (offset, limit) inside it; None when every one matches.

    `coverage` covers the wanted part (see `Coverage`) and lies inside the request
    (`widen`); anything else is a caller's bug (ValueError).
    """
    (want_at, want_limit), (at, limit) = wanted, request
    if not (at <= want_at and want_at + want_limit <= at + limit):
        raise ValueError(f"the request {request} does not hold the part {wanted}")
    if len(data) > limit:
        return f"{len(data)} bytes answered to a request for {limit}"
    have_end = at + len(data)
    view = memoryview(data)  # slices of it hash without a copy
    for hashed in coverage.ranges:
        # A range may reach past the request only where the answer shows the file ends.
        if hashed.offset < at or (hashed.end > at + limit and len(data) == limit):
            raise ValueError(f"range {hashed.offset}+{hashed.limit} is outside {request}")
        if hashed.offset >= have_end:
            return f"bytes {hashed.offset}..{hashed.end - 1} are missing"
        stop = min(hashed.end, have_end)
        if hashlib.sha256(view[hashed.offset - at : stop - at]).digest() != hashed.digest:
            return f"bytes {hashed.offset}..{stop - 1} do not match their SHA-256"
    if coverage.ends_at is not None and min(have_end, want_at + want_limit) > coverage.ends_at:
        return f"bytes past {coverage.ends_at}, where the file's hashes end"
    return None


def cut(wanted: tuple[int, int], request_offset: int, data: bytes) -> bytes:
    """The wanted part's bytes out of a (widened) answer: what getFile(wanted) would give."""
    start = wanted[0] - request_offset
    if start == 0 and len(data) <= wanted[1]:
        return data
    return data[start : start + wanted[1]]


@dataclass
class _FileRanges:
    by_offset: dict[int, HashRange] = field(default_factory=dict)
    starts: list[int] = field(default_factory=list)  # the keys of by_offset, sorted
    # Where the file's ranges end (no range at or after it), once a lookup has shown it.
    ends_at: int | None = None


class HashBook:
    """The ranges already known, per file (media id), at most `max_ranges` of them in all:
    files least recently used are forgotten first.  A file's content never changes under
    its id, so what is known stays true."""

    def __init__(self, max_ranges: int) -> None:
        if max_ranges < 1:
            raise ValueError("max_ranges must be at least 1")
        self.max_ranges = max_ranges
        self.files: OrderedDict[int, _FileRanges] = OrderedDict()
        self.count = 0

    def add(self, media_id: int, ranges: Iterable[HashRange], asked_at: int) -> None:
        """What getFileHashes(`asked_at`) answered for the file.  An answer with no range
        holding `asked_at` says the file has no bytes there."""
        known = self._file(media_id)
        answered = [r for r in ranges if r.limit > 0]
        for hashed in answered:
            if hashed.offset not in known.by_offset:
                self.count += 1
                bisect.insort(known.starts, hashed.offset)
            known.by_offset[hashed.offset] = hashed
        if not any(r.offset <= asked_at < r.end for r in answered):
            known.ends_at = asked_at if known.ends_at is None else min(known.ends_at, asked_at)
        self._trim(media_id)

    def find(self, media_id: int, position: int) -> HashRange | None:
        """The known range holding `position`."""
        known = self.files.get(media_id)
        if known is None:
            return None
        self.files.move_to_end(media_id)
        index = bisect.bisect_right(known.starts, position) - 1
        if index < 0:
            return None
        hashed = known.by_offset[known.starts[index]]
        return hashed if position < hashed.end else None

    def coverage(self, media_id: int, start: int, stop: int) -> Coverage | int:
        """The known ranges covering [start, stop), or the first position no known range
        holds and no known end explains (what to ask getFileHashes for)."""
        ranges: list[HashRange] = []
        position = start
        known = self.files.get(media_id)
        while position < stop:
            hashed = self.find(media_id, position)
            if hashed is None:
                if known is not None and known.ends_at is not None and known.ends_at <= position:
                    return Coverage(tuple(ranges), ends_at=position)
                return position
            ranges.append(hashed)
            position = hashed.end
        return Coverage(tuple(ranges))

    def forget(self, media_id: int) -> None:
        known = self.files.pop(media_id, None)
        if known is not None:
            self.count -= len(known.by_offset)

    def _file(self, media_id: int) -> _FileRanges:
        known = self.files.get(media_id)
        if known is None:
            known = self.files[media_id] = _FileRanges()
        self.files.move_to_end(media_id)
        return known

    def _trim(self, keep: int) -> None:
        while self.count > self.max_ranges and len(self.files) > 1:
            oldest = next(iter(self.files))
            if oldest == keep:
                self.files.move_to_end(keep)
                continue
            self.forget(oldest)
        if self.count > self.max_ranges:
            # One file alone is over the budget: it starts over with what came last.
            known = self.files[keep]
            newest = list(known.by_offset.items())[-self.max_ranges :]
            known.by_offset = dict(newest)
            known.starts = sorted(known.by_offset)
            self.count = len(known.by_offset)


def ranges_of(answer: Sequence[object]) -> list[HashRange]:
    """getFileHashes' answer (FileHash objects, or anything with offset, limit and hash)."""
    return [
        HashRange(int(getattr(h, "offset")), int(getattr(h, "limit")), bytes(getattr(h, "hash")))  # noqa: B009
        for h in answer
    ]
