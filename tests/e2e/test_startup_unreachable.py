"""Telegram out of reach when the server starts: one log line per attempt with a doubling
wait, /healthz answering, /readyz and /status saying why, no traceback; and the bots sign in
once Telegram is back (after a restart, with the keys they had: no new login)."""

from __future__ import annotations

import itertools
import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import new_server
from tests.e2e.test_unhappy_paths import assert_exact, assert_unavailable, get, post, until
from tests.support.processes import EmulatorProcess, ServerProcess

DCS = ("1", "2", "3", "4", "5")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released: refused from then on)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def log_entries(server: ServerProcess) -> list[dict[str, Any]]:
    entries = []
    for line in server.logs().splitlines():
        if line.startswith("{"):
            entries.append(json.loads(line))
    return entries


def warnings(server: ServerProcess) -> list[dict[str, Any]]:
    return [e for e in log_entries(server) if e["level"] in ("warning", "error", "critical")]


def attempts(server: ServerProcess) -> list[dict[str, Any]]:
    return [e for e in warnings(server) if e["msg"] == "cannot reach Telegram, retrying"]


def logins(emulator: EmulatorProcess) -> dict[str, tuple[int, int]]:
    """Per DC: bot sign-ins and auth keys created."""
    stats = {dc: emulator.dc_stats(int(dc)) for dc in DCS}
    return {dc: (s["bot_signins"], s["auth_keys_created"]) for dc, s in stats.items()}


def test_a_closed_port_is_one_line_per_attempt_and_the_server_answers(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    port = closed_port()
    nowhere = ",".join(f"{dc}=127.0.0.1:{port}" for dc in DCS)
    session_dir = tmp_path / "nowhere"
    session_dir.mkdir()
    server = ServerProcess(
        emulator, session_dir, tmp_path / "nowhere.log", extra_env={"TG_DC_ADDRESSES": nowhere}
    )
    server_factory.append(server)
    server.start(wait_ready=False)

    until(lambda: len(attempts(server)) >= 3, 90, step=0.5)
    health = httpx.get(f"{server.url}/healthz", timeout=10)
    assert health.status_code == 200 and health.json() == {"ok": True, "ready": False}
    ready = httpx.get(f"{server.url}/readyz", timeout=10)
    assert ready.status_code == 503
    (waiting,) = ready.json()["waiting_for"]
    assert "cannot reach Telegram (Connect call failed" in waiting and "attempt" in waiting
    status = server.status()
    assert status["ready"] is False and status["serving"] is False
    assert "cannot reach Telegram" in status["not_ready"][0]
    assert_unavailable(get(server.link(1)))

    lines = attempts(server)
    # Every warning of the start-up is one of these lines: nothing of Kurigram's own.
    assert warnings(server)[: len(lines)] == lines
    assert [line["attempt"] for line in lines[:3]] == [1, 2, 3]
    assert [line["retry_in"] for line in lines[:3]] == [2.0, 4.0, 8.0]
    assert all(f"127.0.0.1', {port})" in line["error"] for line in lines)
    # One line per attempt: consecutive lines at least the announced wait apart.
    for earlier, later in itertools.pairwise(lines):
        assert later["ts"] - earlier["ts"] >= earlier["retry_in"]
    text = server.logs()
    assert "Traceback" not in text and "KeyError" not in text
    assert server.stop() == 0


def test_back_from_a_restart_while_telegram_was_down(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data, message_id = post(emulator, 150_000)
    server = new_server(server_factory, emulator, tmp_path, "again")
    assert_exact(get(server.link(message_id)), data)
    assert server.stop() == 0
    before = logins(emulator)

    emulator.faults(dcs={dc: {"down": True} for dc in DCS})
    try:
        server.start(wait_ready=False)
        until(lambda: len(attempts(server)) >= 2, 90, step=0.5)
        assert "cannot reach Telegram" in server.status()["not_ready"][0]
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
        down_since = time.monotonic()
    finally:
        emulator.faults(dcs={dc: {"down": False} for dc in DCS})
    # The wait is capped: back within the cap (30 s) and an attempt's own time.
    until(lambda: server.status()["ready"], 60, step=0.5)
    assert time.monotonic() - down_since < 60
    assert_exact(get(server.link(message_id)), data)
    # The same keys and sign-ins as before: nothing Telegram would count as a new login.
    assert logins(emulator) == before
    text = server.logs()
    assert "Traceback" not in text and "KeyError" not in text
