"""The MediaProbes service: a file's probe, made once and remembered with the file record.

A file is probed the first time something asks (the watch page, an HLS playlist), in a
worker thread over a RangedReader that opens one part-sized block at a time: a probe reads
the header, the first packets and the index, a few parts, never the file.  The answer is
stored by Telegram's media id in the state store (both backends), so a restart or another
replica does not probe again; "PyAV cannot read this" is stored too, so a broken file is
not probed twice.  Probes of one file at once share one probe (single flight).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath

from ..store import FileInfo, StateStore
from ..streaming.plan import PART_SIZE
from .probe import VERSION, MediaProbe, ProbeFormatError, Unreadable
from .reader import ByteSource, RangedReader

log = logging.getLogger("tgstream.media.probing")

# Files whose name says media even when Telegram calls them application/octet-stream (MKV
# usually is).
MEDIA_SUFFIXES = frozenset(
    {
        ".mkv",
        ".mka",
        ".mk3d",
        ".webm",
        ".mp4",
        ".m4v",
        ".m4a",
        ".mov",
        ".avi",
        ".ts",
        ".m2ts",
        ".mts",
        ".mpg",
        ".mpeg",
        ".flv",
        ".wmv",
        ".ogv",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".flac",
        ".wav",
        ".aac",
        ".ac3",
        ".3gp",
    }
)
# Probes kept in memory (each a few KiB; a long film's keyframes some tens).
REMEMBERED = 512
# Probes running at once: each is a few reads and little CPU.
PROBE_THREADS = 2


def is_media(info: FileInfo) -> bool:
    """Whether the file may be audio or video: by its MIME type, else by its name."""
    if info.is_photo:
        return False
    mime = info.mime_type.lower()
    if mime.startswith(("video/", "audio/")):
        return True
    return PurePosixPath(info.file_name.lower()).suffix in MEDIA_SUFFIXES


class NotMedia(Exception):
    """The file is not audio or video, or PyAV cannot read it: `reason` says which."""

    def __init__(self, reason: str, unreadable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        # True: it looks like media but PyAV cannot read it (HTTP 422, not 404).
        self.unreadable = unreadable


def _unreadable_record(reason: str) -> str:
    return json.dumps({"version": VERSION, "unreadable": reason})


class MediaProbes:
    def __init__(self, files: ByteSource, store: StateStore, threads: int = PROBE_THREADS):
        self.files = files
        self.store = store
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="media-probe")
        # media id -> the probe, or why there is none.
        self.known: OrderedDict[int, MediaProbe | str] = OrderedDict()
        self.flights: dict[int, asyncio.Task[MediaProbe | str]] = {}
        self.probes_made = 0
        self.bytes_read = 0  # by probes of this process, through their readers

    async def get(self, info: FileInfo) -> MediaProbe | None:
        """The file's probe; None when it is not audio/video or PyAV cannot read it."""
        try:
            return await self.require(info)
        except NotMedia:
            return None

    async def require(self, info: FileInfo) -> MediaProbe:
        """The file's probe, or NotMedia saying why there is none."""
        if not is_media(info):
            raise NotMedia("not an audio or video file", unreadable=False)
        found = await self._find(info)
        if isinstance(found, str):
            raise NotMedia(found, unreadable=True)
        return found

    async def _find(self, info: FileInfo) -> MediaProbe | str:
        known = self.known.get(info.media_id)
        if known is not None:
            self.known.move_to_end(info.media_id)
            return known
        flight = self.flights.get(info.media_id)
        if flight is None:
            flight = asyncio.create_task(self._load_or_probe(info))
            self.flights[info.media_id] = flight
            flight.add_done_callback(lambda _: self.flights.pop(info.media_id, None))
        # Shielded: a viewer who leaves does not cancel a probe that others will want.
        return await asyncio.shield(flight)

    async def _load_or_probe(self, info: FileInfo) -> MediaProbe | str:
        stored = await self.store.media_probe(info.media_id)
        found = _parse(stored) if stored is not None else None
        if found is None:
            found = await self._probe(info)
            record = found.to_json() if isinstance(found, MediaProbe) else _unreadable_record(found)
            await self.store.save_media_probe(info.media_id, record)
        self._remember(info.media_id, found)
        return found

    async def _probe(self, info: FileInfo) -> MediaProbe | str:
        loop = asyncio.get_running_loop()
        reader = RangedReader.over(self.files, info, loop, window=PART_SIZE)
        self.probes_made += 1
        try:
            return await loop.run_in_executor(self.pool, _inspect_and_close, reader)
        except Unreadable as exc:
            log.info(
                "media file unreadable", extra={"message_id": info.message_id, "why": str(exc)}
            )
            return str(exc)
        finally:
            self.bytes_read += reader.bytes_read

    def _remember(self, media_id: int, found: MediaProbe | str) -> None:
        self.known[media_id] = found
        self.known.move_to_end(media_id)
        while len(self.known) > REMEMBERED:
            self.known.popitem(last=False)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _inspect_and_close(reader: RangedReader) -> MediaProbe:
    # PyAV (26 MB of libraries) is loaded by the first probe, not at start-up.
    from .inspect import inspect

    return reader.run(lambda: inspect(reader))


def _parse(stored: str) -> MediaProbe | str | None:
    """A stored record: a probe, or why there is none; None if it is of another version (made
    again)."""
    try:
        raw = json.loads(stored)
    except ValueError:
        return None
    if isinstance(raw, dict) and raw.get("version") == VERSION and "unreadable" in raw:
        return str(raw["unreadable"])
    try:
        return MediaProbe.from_json(stored)
    except ProbeFormatError:
        return None
