"""The pure part of part verification: which hash ranges cover a part, how far a request must
widen to hold them, and when an answer matches.  Checked exhaustively over every legal part
of files of many sizes, against hash ranges cut the way Telegram cuts them and other ways."""

from __future__ import annotations

import hashlib
import random

import pytest

from tgstream.telegram.hash_ranges import (
    MAX_REQUEST,
    Coverage,
    HashBook,
    HashRange,
    cut,
    holds,
    mismatch,
    ranges_of,
    widen,
)

KiB = 1 << 10
MiB = 1 << 20
RANGE = 128 * KiB


def telegram_ranges(data: bytes, size: int = RANGE, cut_last: bool = True) -> list[HashRange]:
    """Ranges of `size` bytes; the last one's limit cut at the end of the file, or kept whole
    (its hash is still that of the bytes the file has), as TDLib allows for."""
    ranges = []
    for start in range(0, len(data), size):
        chunk = data[start : start + size]
        limit = len(chunk) if cut_last else size
        ranges.append(HashRange(start, limit, hashlib.sha256(chunk).digest()))
    return ranges


def book_of(data: bytes, **kwargs: object) -> HashBook:
    book = HashBook(10_000)
    book.add(1, telegram_ranges(data, **kwargs), 0)  # type: ignore[arg-type]
    book.add(1, [], len(data))
    return book


def legal_parts(size: int) -> list[tuple[int, int]]:
    """Every non-precise getFile (offset, limit) with a power-of-two limit at a multiple of
    it that starts inside a `size`-byte file, plus one just past its end."""
    parts = []
    limit = 4096
    while limit <= MAX_REQUEST:
        parts += [(offset, limit) for offset in range(0, size + limit, limit)]
        limit *= 2
    return parts


def answer(data: bytes, request: tuple[int, int]) -> bytes:
    return data[request[0] : request[0] + request[1]]


def coverage(book: HashBook, offset: int, limit: int) -> Coverage:
    found = book.coverage(1, offset, offset + limit)
    assert isinstance(found, Coverage), found
    return found


SIZES = [4096, RANGE - 4096, RANGE, RANGE + 5, MiB, MiB + 3 * RANGE + 777, 2 * MiB + 4096]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("cut_last", [True, False])
def test_every_legal_part_of_an_intact_file_passes_and_is_cut_exactly(
    size: int, cut_last: bool
) -> None:
    data = random.Random(size).randbytes(size)
    book = book_of(data, cut_last=cut_last)
    for offset, limit in legal_parts(size):
        cover = coverage(book, offset, limit)
        request = widen(offset, limit, cover)
        assert request is not None
        at, width = request
        # Legal, and holding the part and every range that covers it.
        assert width & (width - 1) == 0 and 4096 <= width <= MAX_REQUEST and at % width == 0
        assert at <= offset and offset + limit <= at + width
        assert all(at <= r.offset and r.end <= at + width for r in cover.ranges)
        # A part that is whole ranges asks for nothing more; nor does one whose answer
        # shows the file ends inside it, when the ranges start inside it.
        whole = answer(data, (offset, limit))
        # (A full answer ending just where the file does cannot show that the file ends.)
        if offset % RANGE == 0 and (
            limit % RANGE == 0 or offset + limit > size or (cut_last and offset + limit == size)
        ):
            assert holds((offset, limit), len(whole), cover)
            assert mismatch((offset, limit), (offset, limit), whole, cover) is None
            if cut_last:
                assert request == (offset, limit)
        elif cover.ranges:
            assert not holds((offset, limit), len(whole), cover)
        got = answer(data, request)
        assert mismatch((offset, limit), request, got, cover) is None
        assert cut((offset, limit), at, got) == answer(data, (offset, limit))


@pytest.mark.parametrize("size", [RANGE + 5, MiB + 3 * RANGE + 777, 2 * MiB + 4096])
def test_every_damage_to_a_part_is_caught(size: int) -> None:
    data = random.Random(size).randbytes(size)
    book = book_of(data)
    for offset, limit in legal_parts(size):
        if offset >= size:
            continue
        cover = coverage(book, offset, limit)
        request = widen(offset, limit, cover)
        assert request is not None
        good = answer(data, request)
        # Damage inside the wanted part: a flipped bit, truncation, or nothing at all.
        inside = random.Random(offset ^ limit).randrange(offset, min(offset + limit, size))
        flipped = bytearray(good)
        flipped[inside - request[0]] ^= 0x80
        truncated = good[: inside - request[0]]
        for bad in (bytes(flipped), truncated, b""):
            assert mismatch((offset, limit), request, bad, cover) is not None, (offset, limit)


def test_a_fraction_of_a_range_widens_to_the_whole_range() -> None:
    data = random.Random(1).randbytes(MiB)
    book = book_of(data)
    cover = coverage(book, 4096, 4096)
    assert [r.offset for r in cover.ranges] == [0]
    assert widen(4096, 4096, cover) == (0, RANGE)
    cover = coverage(book, 3 * RANGE + 64 * KiB, 64 * KiB)
    assert [r.offset for r in cover.ranges] == [3 * RANGE]
    assert widen(3 * RANGE + 64 * KiB, 64 * KiB, cover) == (3 * RANGE, RANGE)


def test_a_part_covering_several_ranges_checks_each() -> None:
    data = random.Random(2).randbytes(2 * MiB)
    book = book_of(data)
    cover = coverage(book, MiB, MiB)
    assert [r.offset for r in cover.ranges] == [MiB + i * RANGE for i in range(8)]
    for i in range(8):
        bad = bytearray(answer(data, (MiB, MiB)))
        bad[i * RANGE + 7] ^= 1
        problem = mismatch((MiB, MiB), (MiB, MiB), bytes(bad), cover)
        first, last = MiB + i * RANGE, MiB + (i + 1) * RANGE - 1
        assert problem == f"bytes {first}..{last} do not match their SHA-256"


def test_past_the_end_an_empty_answer_passes_and_bytes_there_fail() -> None:
    data = random.Random(3).randbytes(RANGE + 5)
    book = book_of(data)
    cover = coverage(book, MiB, MiB)
    assert cover == Coverage((), ends_at=MiB)
    assert mismatch((MiB, MiB), (MiB, MiB), b"", cover) is None
    assert mismatch((MiB, MiB), (MiB, MiB), b"x", cover) is not None
    # The last part: its range reaches the end; one byte more than the file has fails.
    cover = coverage(book, 0, MiB)
    assert cover.ends_at == RANGE + 5
    assert mismatch((0, MiB), (0, MiB), data, cover) is None
    assert mismatch((0, MiB), (0, MiB), data + b"\0", cover) is not None


def test_an_answer_longer_than_its_request_fails() -> None:
    cover = Coverage((), ends_at=None)
    assert mismatch((0, 4096), (0, 4096), bytes(4097), cover) is not None


def test_a_caller_bug_is_an_error_not_a_verdict() -> None:
    data = bytes(RANGE)
    ranges = telegram_ranges(data)
    with pytest.raises(ValueError):
        mismatch((0, 8192), (4096, 4096), data, Coverage(tuple(ranges)))
    with pytest.raises(ValueError):
        mismatch((0, 4096), (0, 4096), data[:4096], Coverage(tuple(ranges)))


def test_ranges_no_single_request_holds_are_refused() -> None:
    straddling = HashRange(MiB - RANGE, 2 * RANGE, b"")
    assert widen(MiB - 4096, 4096, Coverage((straddling,))) is None


def test_ranges_of_other_sizes_are_handled_too() -> None:
    data = random.Random(4).randbytes(MiB + 3000)
    for size in (4096, 64 * KiB, 256 * KiB, MiB):
        book = book_of(data, size=size)
        for offset, limit in legal_parts(len(data)):
            cover = coverage(book, offset, limit)
            request = widen(offset, limit, cover)
            assert request is not None
            assert mismatch((offset, limit), request, answer(data, request), cover) is None


def test_the_book_says_what_to_ask_for_and_where_the_file_ends() -> None:
    data = random.Random(5).randbytes(3 * MiB)
    ranges = telegram_ranges(data)
    book = HashBook(100)
    assert book.coverage(1, 0, MiB) == 0
    book.add(1, ranges[:8], 0)
    assert coverage(book, 0, MiB).ranges == tuple(ranges[:8])
    assert book.coverage(1, 0, 2 * MiB) == MiB
    # An answer starting at the range holding the position asked (mid-range).
    book.add(1, ranges[8:16], MiB + 5)
    assert book.coverage(1, MiB + 4096, MiB + 8192) == Coverage((ranges[8],))
    book.add(1, [], 5 * MiB)
    assert book.coverage(1, 5 * MiB, 6 * MiB) == Coverage((), ends_at=5 * MiB)
    # What lies between 2 MiB and 5 MiB is still unknown.
    assert book.coverage(1, 2 * MiB, 3 * MiB) == 2 * MiB
    assert book.find(1, 3 * MiB) is None and book.find(2, 0) is None


def test_the_book_is_bounded_and_forgets_least_recently_used_files_first() -> None:
    data = random.Random(6).randbytes(MiB)
    ranges = telegram_ranges(data)
    book = HashBook(16)
    book.add(1, ranges, 0)
    book.add(2, ranges, 0)
    assert book.count == 16
    book.find(1, 0)  # file 1 is now the more recent
    book.add(3, ranges[:4], 0)
    assert book.count <= 16 and 2 not in book.files and 1 in book.files and 3 in book.files
    # One file alone over the budget keeps what came last.
    big = telegram_ranges(random.Random(7).randbytes(4 * MiB))
    book.add(4, big, 0)
    assert book.count == 16 and list(book.files) == [4]
    assert book.find(4, 4 * MiB - 1) == big[-1] and book.find(4, 0) is None
    book.forget(4)
    assert book.count == 0
    with pytest.raises(ValueError):
        HashBook(0)


def test_the_same_range_twice_is_counted_once() -> None:
    ranges = telegram_ranges(bytes(MiB))
    book = HashBook(100)
    book.add(1, ranges, 0)
    book.add(1, ranges[3:], 3 * RANGE)
    assert book.count == 8


def test_ranges_of_reads_file_hash_objects() -> None:
    class FileHash:
        def __init__(self, offset: int, limit: int, hash: bytes) -> None:
            self.offset, self.limit, self.hash = offset, limit, hash

    assert ranges_of([FileHash(0, 5, b"h")]) == [HashRange(0, 5, b"h")]
