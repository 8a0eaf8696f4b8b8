"""Each row of the failure policy (tgstream/telegram/policy.py), end to end: the emulator
answers one call with the injected error, and a viewer sees what the row promises: the
bytes (hashed), or a prompt 404 / 502 / 503 with a JSON body (and Retry-After where waiting
helps), never a 500.  Every row runs on a server of its own, so no bench or pool state of one
row leaks into the next; the unit table (tests/unit/test_policy.py) holds the same rows."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import new_server
from tests.support.processes import EmulatorProcess, ServerProcess
from tests.support.transfers import sha

MiB = 1 << 20
FILE_DC = 4
SIZE = 3 * MiB + 777
# Every row's answer comes well inside the first-byte deadline (20 s by default).
PROMPT = 15.0


@dataclass(frozen=True)
class Row:
    method: str
    code: int
    message: str
    count: int | None  # None: every matching call
    status: int
    note: str = ""


def rule(row: Row, **extra: Any) -> dict[str, Any]:
    return {
        "method": row.method,
        "code": row.code,
        "message": row.message,
        "count": row.count,
        **extra,
    }


@pytest.fixture(scope="module")
def source(emulator: EmulatorProcess) -> tuple[bytes, int]:
    data = os.urandom(SIZE)
    posted = emulator.post_to_channel(data, dc=FILE_DC, name="row.bin")
    return data, int(posted["message_id"])


def get(server: ServerProcess, message_id: int) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.get(server.link(message_id), timeout=60)
    return response, time.monotonic() - started


@dataclass
class Played:
    server: ServerProcess
    response: httpx.Response
    message_id: int
    data: bytes


Play = Callable[..., Played]


@pytest.fixture
def play(
    emulator: EmulatorProcess,
    server_factory: list[ServerProcess],
    tmp_path: Path,
    source: tuple[bytes, int],
) -> Play:
    """A row on a server of its own: inject the error, make the first request, check the
    answer the row promises and that the injected error was really met."""

    def run(row: Row, dc: int | None = None, **env: str) -> Played:
        data, message_id = source
        server = new_server(server_factory, emulator, tmp_path, "row", **env)
        emulator.faults(rpc_errors=[rule(row, **({"dc": dc} if dc else {}))])
        response, seconds = get(server, message_id)
        assert_answer(response, seconds, row, data)
        if row.count is not None:
            assert emulator.faults()["rpc_errors"] == [], "the injected error was never met"
        return Played(server, response, message_id, data)

    return run


def assert_answer(response: httpx.Response, seconds: float, row: Row, data: bytes) -> None:
    assert response.status_code == row.status, (row, response.text[:300])
    assert seconds < PROMPT, f"{row}: answered after {seconds:.1f} s"
    if row.status == 200:
        assert sha(response.content) == sha(data)
    else:
        assert response.headers["content-type"].startswith("application/json")
        assert "error" in response.json()
        if row.status == 503:
            assert int(response.headers["retry-after"]) >= 1


GET_FILE_ROWS = [
    Row("upload.getFile", 420, "FLOOD_PREMIUM_WAIT_3", 1, 200, "slept, same bot"),
    Row("upload.getFile", 420, "FLOOD_WAIT_3", 1, 200, "slept, same bot"),
    Row("upload.getFile", 420, "FLOOD_WAIT_120", 1, 503, "longer than the threshold"),
    Row("upload.getFile", 400, "FILE_REFERENCE_EXPIRED", 1, 200, "reference refreshed"),
    Row("upload.getFile", 303, "FILE_MIGRATE_4", 1, 200, "DC learned"),
    Row("upload.getFile", 401, "AUTH_KEY_UNREGISTERED", 1, 200, "pool and key reset"),
    Row("upload.getFile", 406, "AUTH_KEY_DUPLICATED", 1, 200, "pool reset"),
    Row("upload.getFile", 500, "INTERNAL", 1, 200, "retried"),
    Row("upload.getFile", -503, "Timeout", 1, 200, "retried"),
    Row("upload.getFile", 400, "FILE_ID_INVALID", 1, 200, "message rechecked, retried"),
    Row("upload.getFile", 400, "FILE_ID_INVALID", None, 404, "file gone"),
    Row("upload.getFile", 400, "LOCATION_INVALID", None, 404, "file gone"),
    Row("upload.getFile", 400, "CHANNEL_PRIVATE", None, 503, "no access"),
    Row("upload.getFile", 400, "LIMIT_INVALID", 1, 502, "our bug, never looped"),
    Row("upload.getFile", 406, "FILEREF_UPGRADE_NEEDED", 1, 502, "refused"),
    Row("upload.getFile", 400, "SOMETHING_NEW", 1, 502, "unknown 4xx"),
    Row("upload.getFile", 500, "INTERNAL", None, 503, "retries used up"),
]


@pytest.mark.parametrize("row", GET_FILE_ROWS, ids=lambda r: f"{r.message}x{r.count or 'all'}")
def test_get_file_rows(emulator: EmulatorProcess, play: Play, row: Row) -> None:
    played = play(row, dc=FILE_DC, CACHE_SIZE_MB="0")
    server, response = played.server, played.response
    stats = emulator.stats()
    if row.message == "AUTH_KEY_UNREGISTERED":
        # The refused key is dropped: a new one is made on DC 4 and authorized by import.
        assert stats["dcs"][str(FILE_DC)]["auth_keys_created"] == 2
        assert stats["dcs"][str(FILE_DC)]["auth_imports"] == 2
    if row.message == "FLOOD_WAIT_120":
        assert int(response.headers["retry-after"]) >= 100
    if row.status == 200:
        # Whole again: the next request is served without the fault.
        again, _ = get(server, played.message_id)
        assert again.status_code == 200 and sha(again.content) == sha(played.data)
    assert "Traceback" not in server.logs()


GET_MESSAGES_ROWS = [
    Row("channels.getMessages", 420, "FLOOD_WAIT_3", 1, 200, "slept"),
    Row("channels.getMessages", 420, "FLOOD_WAIT_120", 1, 503, "benched, no other bot"),
    Row("channels.getMessages", 400, "CHANNEL_PRIVATE", None, 503, "no access"),
    Row("channels.getMessages", 400, "MSG_ID_INVALID", 1, 404, "no such message"),
    Row("channels.getMessages", 500, "INTERNAL", 1, 200, "retried"),
    Row("channels.getMessages", -503, "Timeout", 1, 200, "retried"),
    Row("channels.getMessages", 400, "SOMETHING_NEW", 1, 502, "unknown 4xx"),
]


@pytest.mark.parametrize("row", GET_MESSAGES_ROWS, ids=lambda r: f"{r.message}x{r.count or 'all'}")
def test_get_messages_rows(emulator: EmulatorProcess, play: Play, row: Row) -> None:
    played = play(row)
    server, response = played.server, played.response
    if row.message == "FLOOD_WAIT_120":
        assert int(response.headers["retry-after"]) >= 100
        # The bench is honoured: asking again costs Telegram nothing and answers at once.
        calls = emulator.stats()["methods"].get("channels.getMessages", 0)
        again, seconds = get(server, played.message_id)
        assert again.status_code == 503 and seconds < PROMPT
        assert emulator.stats()["methods"].get("channels.getMessages", 0) == calls
    assert "Traceback" not in server.logs()


AUTHORIZATION_ROWS = [
    Row("auth.exportAuthorization", 420, "FLOOD_WAIT_3", 1, 200, "slept"),
    Row("auth.importAuthorization", 420, "FLOOD_WAIT_3", 1, 200, "slept, exported again"),
    Row("auth.importAuthorization", 400, "AUTH_BYTES_INVALID", 1, 200, "exported again"),
    Row("auth.exportAuthorization", 500, "INTERNAL", 1, 200, "retried"),
    Row("auth.exportAuthorization", 420, "FLOOD_WAIT_1267", 1, 503, "benched"),
    Row("auth.importAuthorization", 420, "FLOOD_WAIT_2838", 1, 503, "benched"),
    Row("auth.exportAuthorization", 400, "DC_ID_INVALID", 1, 502, "refused"),
]


@pytest.mark.parametrize("row", AUTHORIZATION_ROWS, ids=lambda r: f"{r.method}-{r.message}")
def test_authorization_rows(emulator: EmulatorProcess, play: Play, row: Row) -> None:
    """The first stream from DC 4 needs an export on DC 2 and an import on DC 4."""
    played = play(row)
    server, response = played.server, played.response
    imports = emulator.dc_stats(FILE_DC)["auth_imports"]
    assert imports == (1 if row.status == 200 else 0)
    if row.code == 420 and row.status == 503:
        left = int(response.headers["retry-after"])
        assert left > 1000
        # A restart does not call the benched method again before the wait is over.
        calls = emulator.stats()["methods"].get(row.method, 0)
        server.stop()
        server.start()
        response, _ = get(server, played.message_id)
        assert response.status_code == 503 and int(response.headers["retry-after"]) > 1000
        assert emulator.stats()["methods"].get(row.method, 0) == calls
    assert "Traceback" not in server.logs()
