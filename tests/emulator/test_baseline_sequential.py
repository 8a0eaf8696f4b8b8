"""The bench's "sequential" baseline behaves as TG-FileStreamBot's Python branch as shipped,
seen from the emulator's counters: no session on disk (each start signs in anew on a new key),
one media session per DC (a new key and one import off the home DC, none on it), kept until a
restart."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import EmulatorProcess
from tgbench.lineup import Server, lineup

pytestmark = pytest.mark.timeout(120)

MiB = 1 << 20
HOME_DC, FILE_DC = 2, 4


def fetch(server: Server, message_id: int, first: int, last: int) -> bytes:
    headers = {"Range": f"bytes={first}-{last}"}
    response = httpx.get(server.link(message_id), headers=headers, timeout=30)
    assert response.status_code == 206
    return response.content


def dc(stats: dict[str, Any], number: int) -> dict[str, Any]:
    figures: dict[str, Any] = stats["dcs"][str(number)]
    return figures


def settled_connections(emu: EmulatorProcess, number: int, within: float = 5.0) -> int:
    """The DC's open connections once a connection the client closed has been seen closed
    (a busy machine takes a moment), or as they are when `within` has passed."""
    deadline = time.monotonic() + within
    while True:
        count = int(dc(emu.stats(), number)["open_connections"])
        if count <= 1 or time.monotonic() > deadline:
            return count
        time.sleep(0.1)


def test_sequential_signs_in_at_every_start_and_makes_one_media_session_per_dc(
    emu: EmulatorProcess, tmp_path: Path
) -> None:
    assert emu.home_dc == HOME_DC
    far = os.urandom(3 * MiB + 5)
    near = os.urandom(MiB)
    far_id = emu.post_to_channel(far, FILE_DC, "far.bin")["message_id"]
    near_id = emu.post_to_channel(near, HOME_DC, "near.bin")["message_id"]
    contender = next(c for c in lineup() if c.name == "sequential")
    server = Server(contender, emu, tmp_path / "sequential")
    for start in range(2):
        emu.control.reset_stats()
        server.start()
        try:
            started = emu.stats()
            # No session on disk: the bot signs in again, on a key made for it.
            assert dc(started, HOME_DC)["bot_signins"] == 1, start
            assert dc(started, HOME_DC)["auth_keys_created"] == 1, start
            assert dc(started, FILE_DC)["connections"] == 0, start

            # Across two chunks, cut to the range.
            assert fetch(server, far_id, MiB - 7, 2 * MiB + 9) == far[MiB - 7 : 2 * MiB + 10]
            assert fetch(server, far_id, 3 * MiB, 3 * MiB + 4) == far[3 * MiB :]
            assert fetch(server, near_id, 10, 20) == near[10:21]
            stats = emu.stats()
            file_dc = dc(stats, FILE_DC)
            # One media session on the file's DC: its own new key, one authorization
            # imported into it, and no regular session beside it (one connection open once
            # the key's handshake connection, closed by the client, is gone at the DC too).
            assert file_dc["auth_keys_created"] == 1, start
            assert file_dc["auth_imports"] == 1, start
            assert settled_connections(emu, FILE_DC) == 1, start
            assert stats["methods"]["auth.exportAuthorization"] == 1, start
            # One 1 MiB getFile per chunk: three for the first range, one for the second.
            assert file_dc["getfile_requests"] == 4, start
            # The home DC's media session rides the bot's own key: nothing imported there.
            assert dc(stats, HOME_DC)["auth_keys_created"] == 1, start
            assert dc(stats, HOME_DC)["auth_imports"] == 0, start
        finally:
            server.stop()
