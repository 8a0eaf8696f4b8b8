"""upload.getFileHashes as Telegram answers it, and the corrupt_getfile fault, seen from a stock
Kurigram client over real MTProto."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyrogram import errors, raw

from tests.support.kurigram import document_location, make_client
from tests.support.processes import EmulatorProcess
from tgemu.faults import CorruptRule, Faults, corrupt

pytestmark = pytest.mark.timeout(120)

KiB = 1 << 10
MiB = 1 << 20
RANGE = 128 * KiB
# Two full 1 MiB blocks, then a last hash range that is cut short (5 bytes into it).
SIZE = 2 * MiB + 3 * RANGE + 5


def hashes_of(location: Any, offset: int) -> Any:
    return raw.functions.upload.GetFileHashes(location=location, offset=offset)


def get_file(location: Any, offset: int = 0, limit: int = MiB) -> Any:
    return raw.functions.upload.GetFile(location=location, offset=offset, limit=limit)


def expected(data: bytes, start: int, count: int = 8) -> list[tuple[int, int, bytes]]:
    ranges: list[tuple[int, int, bytes]] = []
    while start < len(data) and len(ranges) < count:
        chunk = data[start : start + RANGE]
        ranges.append((start, len(chunk), hashlib.sha256(chunk).digest()))
        start += RANGE
    return ranges


def triples(answer: Any) -> list[tuple[int, int, bytes]]:
    return [(h.offset, h.limit, h.hash) for h in answer]


# --- pure parts ---------------------------------------------------------------------------------


def test_corrupt_flips_first_middle_and_last_byte_and_keeps_the_length() -> None:
    for data in (b"\x00", b"ab", os.urandom(4096), os.urandom(MiB)):
        damaged = corrupt(data)
        assert len(damaged) == len(data)
        assert damaged != data
        changed = [i for i in range(len(data)) if damaged[i] != data[i]]
        assert set(changed) == {0, len(data) // 2, len(data) - 1}
        assert corrupt(damaged) == data
    assert corrupt(b"") == b""


def test_corrupt_rules_match_dc_and_file_and_spend_their_count() -> None:
    faults = Faults([1, 2, 4])
    faults.corrupt_getfile = [
        CorruptRule(dc=4, file_id=7, count=None),
        CorruptRule(dc=2, count=2),
    ]
    assert not faults.corrupts(1, 7)
    assert not faults.corrupts(4, 8)
    assert all(faults.corrupts(4, 7) for _ in range(5))
    assert faults.corrupts(2, 99) and faults.corrupts(2, 1)
    assert not faults.corrupts(2, 99)
    assert len(faults.corrupt_getfile) == 1
    faults.clear()
    assert faults.corrupt_getfile == [] and not faults.corrupts(4, 7)


# --- over MTProto -------------------------------------------------------------------------------


async def test_file_hashes_are_eight_128k_ranges_from_the_one_holding_the_offset(
    emu: EmulatorProcess, workdir: Path
) -> None:
    data = os.urandom(SIZE)
    location = document_location(emu.upload(data, dc=4)["file_id"])
    async with make_client(emu.config, "bot", workdir) as client:
        media = await client.get_session(4, is_media=True)
        emu.reset()
        assert triples(await media.invoke(hashes_of(location, 0))) == expected(data, 0)
        # An offset inside a range starts from that range.
        assert triples(await media.invoke(hashes_of(location, RANGE + 5))) == expected(data, RANGE)
        # Near the end: fewer than eight, the last one only as long as the file has bytes.
        tail = triples(await media.invoke(hashes_of(location, 2 * MiB)))
        assert tail == expected(data, 2 * MiB)
        assert [limit for _, limit, _ in tail] == [RANGE, RANGE, RANGE, 5]
        # Past the end: none.
        assert await media.invoke(hashes_of(location, SIZE)) == []
        assert await media.invoke(hashes_of(location, 64 * MiB)) == []
        with pytest.raises(errors.BadRequest, match="OFFSET_INVALID"):
            await media.invoke(hashes_of(location, -RANGE))
    stats = emu.stats()
    assert stats["methods"]["upload.getFileHashes"] == 6
    assert stats["dcs"]["4"]["getfile_hashes_requests"] == 5
    assert stats["dcs"]["4"]["getfile_requests"] == 0


async def test_file_hashes_follow_getfile_on_location_errors(
    emu: EmulatorProcess, workdir: Path
) -> None:
    data = os.urandom(RANGE)
    location = document_location(emu.upload(data, dc=4)["file_id"])
    async with make_client(emu.config, "bot", workdir) as client:
        home = await client.get_session(2, is_media=True)
        with pytest.raises(errors.SeeOther, match="FILE_MIGRATE") as migrate:
            await home.invoke(hashes_of(location, 0), sleep_threshold=0)
        assert migrate.value.value == 4
        media = await client.get_session(4, is_media=True)
        wrong = raw.types.InputDocumentFileLocation(
            id=location.id, access_hash=location.access_hash + 1, file_reference=b"", thumb_size=""
        )
        with pytest.raises(errors.BadRequest, match="FILE_ID_INVALID"):
            await media.invoke(hashes_of(wrong, 0))


async def test_corrupt_getfile_damages_exactly_count_answers_of_that_file(
    emu: EmulatorProcess, workdir: Path
) -> None:
    data = os.urandom(MiB)
    other = os.urandom(MiB)
    stored = emu.upload(data, dc=4)
    location = document_location(stored["file_id"])
    other_location = document_location(emu.upload(other, dc=4)["file_id"])
    async with make_client(emu.config, "bot", workdir) as client:
        media = await client.get_session(4, is_media=True)
        emu.reset()
        shown = emu.control.corrupt_getfile(count=2, dc=4, file_id=stored["id"])
        assert shown["corrupt_getfile"] == [{"count": 2, "dc": 4, "file_id": stored["id"]}]
        # Another file is left alone and spends nothing.
        assert (await media.invoke(get_file(other_location))).bytes == other
        for _ in range(2):
            part = (await media.invoke(get_file(location))).bytes
            assert len(part) == len(data) and part != data
            assert hashlib.sha256(part).digest() != hashlib.sha256(data).digest()
        assert (await media.invoke(get_file(location))).bytes == data
        assert emu.faults()["corrupt_getfile"] == []
    counters = emu.dc_stats(4)
    assert counters["getfile_corrupted"] == 2
    assert counters["getfile_requests"] == 4


@pytest.mark.parametrize(
    "rule",
    [
        {"count": 0},
        {"count": "many"},
        {"dc": 9},
        {"file_id": "x"},
        {"method": "upload.getFile"},
    ],
)
def test_control_api_rejects_bad_corrupt_rules(emu: EmulatorProcess, rule: dict[str, Any]) -> None:
    response = httpx.post(f"{emu.url}/faults", json={"corrupt_getfile": [rule]}, timeout=30)
    assert response.status_code == 400, response.text
    assert "error" in response.json()
    assert emu.control.faults()["corrupt_getfile"] == []
