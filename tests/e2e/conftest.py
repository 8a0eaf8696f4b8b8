from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import LIVE_SERVERS, EmulatorProcess, ServerProcess


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[Any]:
    """A failed test's report says where each server still running waits (its asyncio tasks,
    from SIGUSR1), before the fixtures stop them: a hang then names its await."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for server in list(LIVE_SERVERS):
        dump = server.task_dump()
        if dump is not None:
            report.sections.append((f"tasks of the server on port {server.port}", dump))


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
