"""Bytes of a file range, as an async iterator: plan -> cache -> pipeline -> downloader.

The first part is fetched before the caller commits to a status line, so anything that
can go wrong at the start (flood wait, file gone) still becomes a proper HTTP error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass

from ..store import FileInfo
from ..telegram.downloader import Downloader
from ..telegram.errors import NoThumbnail, UpstreamRejected
from ..telegram.resolver import FileResolver
from .cache import PartCache
from .pipeline import LiveTasks, Pipeline, ShortPart, checked_slice
from .plan import Part, PartPlan
from .readahead import DOWNLOAD_GROWTH, GROWTH

# (offset, limit, urgent): urgent marks the part a viewer is waiting to start on.
FetchPart = Callable[[int, int, bool], Awaitable[bytes]]


@dataclass(frozen=True)
class StreamSettings:
    in_flight: int
    first_part_size: int | None


# The largest piece handed to the HTTP server at once.  Each is a copy, so the part it came
# from is not pinned while the viewer is slow to take it.
SEND_CHUNK = 16 * 1024
# A viewer that has not taken a piece for this long has stopped reading (paused, or gone
# without closing): the parts held for it are released, and fetched again (from the part
# cache, normally) if it resumes.
RELEASE_AFTER = 2.0


class RangeStream:
    def __init__(
        self,
        cache_key: object,
        fetch: FetchPart,
        cache: PartCache,
        start: int,
        end: int,
        size: int,
        settings: StreamSettings,
        live: LiveTasks | None = None,
        whole: bool = False,
    ) -> None:
        self.cache_key = cache_key
        self.fetch = fetch
        self.cache = cache
        self.parts = (
            PartPlan(start, end, size, first_part_size=settings.first_part_size)
            if end >= start
            else []
        )
        self.live = live
        # The first part is primed apart from the pipeline (urgently, before the headers),
        # so the pipeline holds it as in hand.
        self.pipeline = Pipeline(
            self.parts,
            self._part,
            settings.in_flight,
            live,
            in_hand=min(1, len(self.parts)),
            growth=DOWNLOAD_GROWTH if whole else GROWTH,
        )
        # The slice of the part being sent, by part index; dropped when the viewer stalls.
        self.held: tuple[int, memoryview] | None = None
        self.releases = 0

    async def _part(self, part: Part, urgent: bool = False) -> bytes:
        key = (self.cache_key, part.offset, part.limit)
        return await self.cache.get(key, lambda: self.fetch(part.offset, part.limit, urgent))

    async def prime(self) -> None:
        """Fetch the first part now (errors surface before any header is sent)."""
        if self.parts:
            first = self.parts[0]
            data = await self._part(first, urgent=True)
            # Nothing came before this part: an empty reply only bounds the end.
            self.held = (0, checked_slice(first, data, after_full_part=False))

    async def body(self) -> AsyncGenerator[bytes, None]:
        """The range in pieces of at most SEND_CHUNK bytes."""
        loop = asyncio.get_running_loop()
        pipeline = self.pipeline
        stall = _StallWatch(loop, lambda: self._release(pipeline))
        sent = 0  # bytes of the body handed to the HTTP server: what read-ahead grows from
        try:
            for index, part in enumerate(self.parts):
                at = 0
                while at < part.take:
                    if self.held is None or self.held[0] != index:
                        self.held = (index, await pipeline.slice(index))
                    begin = at
                    at = min(at + SEND_CHUNK, part.take)
                    sent += at - begin
                    stall.waiting()
                    try:
                        # The piece is no local of this frame: once the server has sent it,
                        # nothing here holds it while the viewer is slow to take the next.
                        yield bytes(self.held[1][begin:at])
                    finally:
                        stall.taken()
                    if at >= part.take:
                        self.held = None
                    # Taken once the HTTP server asks for more: a piece stuck behind a full
                    # socket proves nothing, so a stalled viewer grows no read-ahead.
                    pipeline.advance(sent)
        finally:
            stall.stop()
            await pipeline.close()

    async def close(self) -> None:
        """Cancel whatever is still being fetched for this range."""
        await self.pipeline.close()

    def _release(self, pipeline: Pipeline) -> None:
        self.releases += 1
        if self.live is not None:
            self.live.released += 1
        self.held = None
        pipeline.release()


class _StallWatch:
    """Calls `stalled` once a piece has waited RELEASE_AFTER for the viewer to take it.

    One timer per stream, moved on as pieces are taken, rather than one per piece: a
    stream sends a piece every few microseconds when the viewer keeps up, and creating and
    cancelling a timer for each was a visible share of the event loop's work."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stalled: Callable[[], None]) -> None:
        self.loop = loop
        self.stalled = stalled
        self.since: float | None = None  # when the piece now waiting was offered
        self.timer: asyncio.TimerHandle | None = None

    def waiting(self) -> None:
        self.since = self.loop.time()
        if self.timer is None:
            self.timer = self.loop.call_at(self.since + RELEASE_AFTER, self._check)

    def taken(self) -> None:
        self.since = None

    def _check(self) -> None:
        self.timer = None
        if self.since is None:
            return  # taken since; the next piece offered sets a new timer
        due = self.since + RELEASE_AFTER
        if self.loop.time() >= due:
            self.stalled()
        else:
            self.timer = self.loop.call_at(due, self._check)

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


PROBE_BLOCK = 4096


async def find_end(fetch: FetchPart, upper: int) -> int:
    """Where a file really ends, known only to be at or before `upper` (an empty reply came
    there): a binary search over 4 KiB blocks, about log2(upper / 4 KiB) small requests,
    paid once per file, since the size found replaces the declared one."""
    low, high = 0, upper  # the end lies in [low, high]; low stays block-aligned
    while low < high:
        middle = (low + high) // 2
        middle -= middle % PROBE_BLOCK
        got = len(await fetch(middle, PROBE_BLOCK, True))
        if got == PROBE_BLOCK:
            low = middle + PROBE_BLOCK
        elif got > 0:
            return middle + got
        else:
            high = middle
    return low


class ShorterThanDeclared(Exception):
    """Telegram's data ends before the file's declared size, found before any byte was
    sent: `info` is the file with its real size, to answer with instead."""

    def __init__(self, info: FileInfo) -> None:
        super().__init__(f"message {info.message_id} really has {info.size} bytes")
        self.info = info


def thumbnail_key(info: FileInfo) -> tuple[int, str, str]:
    """The part cache key of a document's thumbnail: led by the media id, so the cache drops
    it with the file's parts (PartCache.drop), but of another shape than a part's
    (media id, offset, limit)."""
    return (info.media_id, "thumb", info.thumb_type)


class FileStreams:
    """The bin channel's files as byte ranges: a file's record, and the bytes of a range of
    it through the part cache and a pipeline of upload.getFile requests."""

    def __init__(
        self,
        resolver: FileResolver,
        downloader: Downloader,
        cache: PartCache,
        settings: StreamSettings,
        live: LiveTasks,
    ) -> None:
        self.resolver = resolver
        self.downloader = downloader
        self.cache = cache
        self.settings = settings
        self.live = live

    async def resolve(self, message_id: int) -> FileInfo:
        return await self.resolver.get(message_id)

    async def stream(
        self, info: FileInfo, first: int, last: int, whole: bool = False
    ) -> AsyncGenerator[bytes, None]:
        """Bytes `first..last` of the file.  The first piece comes only once the first part
        is in; if that part shows the file to be shorter than declared, ShorterThanDeclared
        (the real size is learned) instead of any byte.  `whole`: the whole file was asked
        for without a Range, a download, read ahead as one (readahead.DOWNLOAD_GROWTH)."""
        fetch = self._fetcher(info)
        stream = RangeStream(
            info.media_id,
            fetch,
            self.cache,
            first,
            last,
            info.size,
            self.settings,
            self.live,
            whole,
        )
        try:
            try:
                await stream.prime()
            except ShortPart as short:
                raise await self._shorter(info, short, fetch) from None
            try:
                async with contextlib.aclosing(stream.body()) as body:
                    while True:
                        # Passed on, never held in a local while the next is awaited (a
                        # stalled viewer would pin the piece already sent).
                        try:
                            yield await anext(body)
                        except StopAsyncIteration:
                            break
            except ShortPart as short:
                # Too late for this response; the next one gets the real size.
                if short.exact and short.real_size < info.size:
                    await self.resolver.correct_size(info, short.real_size)
                raise
        finally:
            # Whatever is still being fetched for it, however the range ended.
            await stream.close()

    async def thumbnail(self, info: FileInfo) -> bytes:
        """The document's thumbnail (NoThumbnail when it has none), through the part cache
        under a key of its own: its media id is the document's, but its bytes are not the
        document's part at offset 0, so it never shares a part's key, and its key's shape
        keeps it out of the disk tier (thumbnail_key)."""
        if not info.has_thumb:
            raise NoThumbnail(f"message {info.message_id} has no thumbnail")
        return await self.cache.get(thumbnail_key(info), lambda: self.downloader.fetch_thumb(info))

    async def _shorter(
        self, info: FileInfo, short: ShortPart, fetch: FetchPart
    ) -> ShorterThanDeclared:
        if short.real_size >= info.size:
            raise UpstreamRejected(f"message {info.message_id}: a part came back short")
        real_size = short.real_size
        if not short.exact:
            real_size = await find_end(fetch, real_size)
        return ShorterThanDeclared(await self.resolver.correct_size(info, real_size))

    def _fetcher(self, info: FileInfo) -> FetchPart:
        def fetch(offset: int, limit: int, urgent: bool) -> Awaitable[bytes]:
            return self.downloader.fetch(info, offset, limit, urgent)

        return fetch
