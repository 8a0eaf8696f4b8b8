"""RangedReader: a sync file object in a worker thread over async range streams: exact bytes
for any reads and seeks, one stream per run of reads, streams closed when left, bounds kept."""

from __future__ import annotations

import asyncio
import io
import os
import random
from collections.abc import AsyncGenerator, Callable
from typing import TypeVar

import pytest

from tgstream.media.reader import SKIP_THROUGH, RangedReader, ReaderAborted

T = TypeVar("T")
DATA = os.urandom(3 * 1024 * 1024 + 777)


class Source:
    def __init__(self, data: bytes = DATA, piece: int = 16 * 1024) -> None:
        self.data = data
        self.piece = piece
        self.ranges: list[tuple[int, int]] = []
        self.closed = 0

    def open(self, first: int, last: int) -> AsyncGenerator[bytes, None]:
        self.ranges.append((first, last))
        return self._stream(first, last)

    async def _stream(self, first: int, last: int) -> AsyncGenerator[bytes, None]:
        try:
            for at in range(first, min(last, len(self.data) - 1) + 1, self.piece):
                await asyncio.sleep(0)
                yield self.data[at : min(at + self.piece, last + 1)]
        finally:
            self.closed += 1


async def in_thread(work: Callable[[], T]) -> T:
    return await asyncio.to_thread(work)


async def reader_of(
    source: Source, window: int | None = None, bulk: tuple[int, int] | None = None
) -> RangedReader:
    loop = asyncio.get_running_loop()
    return RangedReader(source.open, len(source.data), loop, window=window, bulk=bulk)


async def test_sequential_reads_use_one_stream_and_count_bytes() -> None:
    source = Source()
    reader = await reader_of(source)

    def work() -> bytes:
        out = b""
        while chunk := reader.read(100_000):
            out += chunk
        reader.close()
        return out

    assert await in_thread(work) == DATA
    assert source.ranges == [(0, len(DATA) - 1)]
    assert reader.bytes_read == len(DATA) and reader.opens == 1 and source.closed == 1


async def test_random_seeks_and_reads_match_a_real_file() -> None:
    source = Source()
    reader = await reader_of(source)
    plain = io.BytesIO(DATA)
    rng = random.Random(7)

    def work() -> None:
        for _ in range(300):
            choice = rng.random()
            if choice < 0.3:
                where = rng.randrange(len(DATA) + 100)
                assert reader.seek(where) == plain.seek(where)
            elif choice < 0.4:
                step = rng.randrange(-5000, SKIP_THROUGH * 2)
                if plain.tell() + step >= 0:
                    assert reader.seek(step, os.SEEK_CUR) == plain.seek(step, os.SEEK_CUR)
            elif choice < 0.45:
                back = -rng.randrange(1, 5000)
                assert reader.seek(back, os.SEEK_END) == plain.seek(back, os.SEEK_END)
            else:
                size = rng.randrange(1, 200_000)
                assert reader.read(size) == plain.read(size)
            assert reader.tell() == plain.tell()
        reader.close()

    await in_thread(work)
    assert source.closed == reader.opens, "every stream opened was closed"


async def test_a_short_skip_forward_reads_through_and_a_long_one_reopens() -> None:
    source = Source()
    reader = await reader_of(source)

    def work() -> None:
        reader.read(1000)
        reader.seek(1000 + SKIP_THROUGH // 2)
        assert reader.read(10) == DATA[1000 + SKIP_THROUGH // 2 :][:10]
        assert reader.opens == 1
        reader.seek(2_000_000)
        assert reader.read(10) == DATA[2_000_000:2_000_010]
        assert reader.opens == 2
        reader.seek(0)
        assert reader.read(5) == DATA[:5]
        reader.close()

    await in_thread(work)
    assert [first for first, _ in source.ranges] == [0, 2_000_000, 0]
    assert source.closed == 3


async def test_a_bulk_range_reads_straight_through_and_the_rest_by_blocks() -> None:
    source = Source()
    reader = await reader_of(source, window=1 << 20, bulk=(1_500_000, 2_500_000))

    def work() -> bytes:
        head = reader.read(100)
        reader.seek(1_500_000)
        data = reader.read(1_100_000)
        reader.close()
        return head + data

    assert await in_thread(work) == DATA[:100] + DATA[1_500_000:2_600_000]
    assert source.ranges == [
        (0, (1 << 20) - 1),
        (1_500_000, 2_499_999),
        (2_500_000, (3 << 20) - 1),
    ]


async def test_a_window_opens_one_block_at_a_time() -> None:
    source = Source()
    reader = await reader_of(source, window=1 << 20)

    def work() -> bytes:
        reader.seek(1_000_000)
        data = reader.read(200_000)
        reader.seek(len(DATA) - 100)
        data += reader.read(1000)
        reader.close()
        return data

    assert await in_thread(work) == DATA[1_000_000:1_200_000] + DATA[-100:]
    assert source.ranges == [
        (1_000_000, (1 << 20) - 1),
        (1 << 20, (2 << 20) - 1),
        (len(DATA) - 100, len(DATA) - 1),
    ]


async def test_a_file_shorter_than_declared_ends_where_its_bytes_do() -> None:
    source = Source(DATA[:1000])
    reader = RangedReader(source.open, 5000, asyncio.get_running_loop())

    def work() -> tuple[bytes, bytes]:
        first = reader.read(4000)
        return first, reader.read(10)

    assert await in_thread(work) == (DATA[:1000], b"")


async def test_an_aborted_reader_fails_its_next_read() -> None:
    source = Source()
    reader = await reader_of(source)
    reader.abort()
    with pytest.raises(ReaderAborted):
        await in_thread(lambda: reader.read(10))


async def test_an_upstream_error_reaches_the_reader() -> None:
    async def failing(first: int, last: int) -> AsyncGenerator[bytes, None]:
        yield b"x" * 10
        raise ConnectionError("Telegram went away")

    reader = RangedReader(failing, 100, asyncio.get_running_loop())
    with pytest.raises(ConnectionError):
        await in_thread(lambda: reader.read(50))


async def test_reading_on_the_event_loop_is_refused() -> None:
    reader = await reader_of(Source())
    with pytest.raises(RuntimeError):
        reader.read(1)


def test_bad_arguments() -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError):
            RangedReader(Source().open, -1, loop)
        with pytest.raises(ValueError):
            RangedReader(Source().open, 10, loop, window=0)
        reader = RangedReader(Source().open, 10, loop)
        with pytest.raises(OSError):
            reader.seek(-1)
        with pytest.raises(ValueError):
            reader.seek(0, 7)
        assert reader.readable() and reader.seekable()
    finally:
        loop.close()
