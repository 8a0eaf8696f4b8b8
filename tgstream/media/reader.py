"""A file's bytes as a sync, seekable file object, for PyAV in a worker thread.

PyAV's calls block, so they run off the event loop; its reads come here, and each is served
from one open range stream of the file (the same path /dl reads through: part cache, the
failure policy), which lives on the event loop and is driven from the worker thread with
`asyncio.run_coroutine_threadsafe`.  A seek only moves the position; the next read that
finds the open stream elsewhere closes it (its upstream requests stop) and opens another
there.  A short skip forward reads through instead, since a new stream would fetch the same
part again.  Every byte that comes in is counted, so tests can hold a job to what it reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import Any, Protocol, TypeVar

from ..store import FileInfo

T = TypeVar("T")


class ByteSource(Protocol):
    """Where media reads a file's bytes: the streaming side's FileStreams (the range path
    /dl uses), or any source a test gives."""

    def stream(self, info: FileInfo, first: int, last: int) -> AsyncGenerator[bytes, None]:
        """Bytes `first..last` (inclusive) of the file, in pieces."""
        ...


# (first, last) inclusive -> the bytes of that range, in pieces.
OpenRange = Callable[[int, int], AsyncGenerator[bytes, None]]

# Forward skips up to this are read through rather than answered with a new stream.
SKIP_THROUGH = 256 * 1024
# Seconds one read may wait for its bytes (each part already has its own deadlines; this only
# keeps a worker thread from waiting for ever on a loop that went away).
READ_TIMEOUT = 120.0


class ReaderAborted(Exception):
    """The job reading was given up (nobody waits for it any more)."""


class RangedReader:
    """Bytes `0..size-1` of a file.  A `window` (bytes, aligned blocks) bounds each stream
    opened: a reader that jumps around (a probe; a job reading the header and the index)
    asks for a block at a time rather than for read-ahead it will not use.  Within `bulk`
    (first, stop), where a job expects to read straight through, a stream runs to `stop`
    with the range path's read-ahead instead."""

    def __init__(
        self,
        open_range: OpenRange,
        size: int,
        loop: asyncio.AbstractEventLoop,
        *,
        window: int | None = None,
        bulk: tuple[int, int] | None = None,
        timeout: float = READ_TIMEOUT,
    ) -> None:
        if size < 0:
            raise ValueError("size must be >= 0")
        if window is not None and window <= 0:
            raise ValueError("window must be positive")
        self.open_range = open_range
        self.size = size
        self.window = window
        self.bulk = bulk
        self.loop = loop
        self.timeout = timeout
        self.pos = 0
        self.bytes_read = 0  # bytes that came in from range streams
        self.opens = 0  # range streams opened
        self._stream: AsyncGenerator[bytes, None] | None = None
        self._at = 0  # file position of self._left[0]
        self._end = 0  # the open stream's end (exclusive)
        self._left = memoryview(b"")
        self._aborted = threading.Event()
        self.failure: BaseException | None = None

    # --- the file object PyAV reads --------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            target = offset
        elif whence == os.SEEK_CUR:
            target = self.pos + offset
        elif whence == os.SEEK_END:
            target = self.size + offset
        else:
            raise ValueError(f"bad whence {whence}")
        if target < 0:
            raise OSError(f"seek to {target}, before the start")
        self.pos = target
        return self.pos

    def read(self, size: int = -1) -> bytes:
        if self._aborted.is_set():
            self.failure = ReaderAborted("job given up")
            raise self.failure
        want = self.size - self.pos if size is None or size < 0 else size
        want = min(want, self.size - self.pos)
        if want <= 0:
            return b""
        try:
            data = self._call(self._read(want))
        except BaseException as exc:
            # FFmpeg may take a failed read for the end of the file and go on: the job
            # asks `failure` once done, so a cut-off result is never taken for a whole one.
            self.failure = exc
            raise
        self.pos += len(data)
        return data

    def check(self) -> None:
        """Raise what made a read fail, if one did."""
        if self.failure is not None:
            raise self.failure

    def run(self, job: Callable[[], T]) -> T:
        """`job()`, which reads from this reader (in the worker thread), then the reader
        closed.  A read that failed is what is raised, whatever the job made of it: FFmpeg
        may take it for the end of the file (a cut-off result) or for a broken one."""
        try:
            try:
                result = job()
            except Exception:
                self.check()
                raise
            self.check()
            return result
        finally:
            self.close()

    def close(self) -> None:
        """Close the open stream (from the worker thread)."""
        if self._stream is not None and not self.loop.is_closed():
            with contextlib.suppress(Exception):
                self._call(self._close_stream())

    @classmethod
    def over(
        cls,
        source: ByteSource,
        info: FileInfo,
        loop: asyncio.AbstractEventLoop,
        *,
        window: int | None = None,
        bulk: tuple[int, int] | None = None,
    ) -> RangedReader:
        """A reader of `info`'s bytes from `source`."""

        def open_range(first: int, last: int) -> AsyncGenerator[bytes, None]:
            return source.stream(info, first, last)

        return cls(open_range, info.size, loop, window=window, bulk=bulk)

    def abort(self) -> None:
        """Make the next read fail (from any thread): the job's PyAV call ends soon."""
        self._aborted.set()

    # --- on the event loop ---------------------------------------------------------------

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            coroutine.close()
            raise RuntimeError("a RangedReader blocks: use it from a worker thread")
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(self.timeout)
        except TimeoutError:
            future.cancel()
            raise

    async def _read(self, want: int) -> bytes:
        if self._stream is not None and self._at != self.pos:
            skip = self.pos - self._at
            if 0 < skip <= SKIP_THROUGH and self.pos < self._end:
                await self._discard(skip)
            if self._at != self.pos:
                await self._close_stream()
        out = bytearray()
        while len(out) < want:
            if not self._left:
                here = self.pos + len(out)
                if here >= self.size:
                    break
                if self._stream is None or here >= self._end:
                    # Nothing open here, or its window is done: the next block.
                    await self._close_stream()
                    await self._open(here)
                chunk = await self._next_chunk()
                if chunk is None:
                    break
                self._left = memoryview(chunk)
            take = self._left[: want - len(out)]
            out += take
            self._left = self._left[len(take) :]
            self._at += len(take)
        return bytes(out)

    async def _discard(self, count: int) -> None:
        while count > 0:
            if not self._left:
                chunk = await self._next_chunk()
                if chunk is None:
                    return
                self._left = memoryview(chunk)
            take = min(count, len(self._left))
            self._left = self._left[take:]
            self._at += take
            count -= take

    async def _next_chunk(self) -> bytes | None:
        assert self._stream is not None
        try:
            chunk = await anext(self._stream)
        except StopAsyncIteration:
            # The stream gave all it had: the file (or what this stream covered) ends here.
            self._end = self._at
            return None
        self.bytes_read += len(chunk)
        return chunk

    async def _open(self, first: int) -> None:
        end = self.size
        if self.bulk is not None and self.bulk[0] <= first < self.bulk[1]:
            end = min(end, self.bulk[1])
        elif self.window is not None:
            end = min(end, (first // self.window + 1) * self.window)
        self._stream = self.open_range(first, end - 1)
        self.opens += 1
        self._at, self._end = first, end
        self._left = memoryview(b"")

    async def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        self._left = memoryview(b"")
        if stream is not None:
            await stream.aclose()
