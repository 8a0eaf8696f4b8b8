from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import EmulatorProcess, ServerProcess


@pytest.fixture
def server_factory(emulator: EmulatorProcess, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Servers started by a test; stopped (SIGTERM) when it ends.  The emulator's faults and
    counters are cleared around each test, so no fault outlives the test that set it."""
    emulator.reset()
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()
    emulator.reset()


def new_server(
    started: list[ServerProcess], emu: EmulatorProcess, base: Path, name: str = "srv", **env: str
) -> ServerProcess:
    session_dir = base / f"{name}-sessions"
    session_dir.mkdir(exist_ok=True)
    server = ServerProcess(emu, session_dir, base / f"{name}.log", extra_env=dict(env))
    started.append(server)
    return server.start()
