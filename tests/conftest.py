from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import EmulatorProcess


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """One emulator process for the session; tests reset its counters and faults."""
    base = tmp_path_factory.mktemp("emulator")
    emu = EmulatorProcess(state_dir=base / "state", log_path=base / "emulator.log").start()
    yield emu
    emu.stop()


@pytest.fixture
def emu(emulator: EmulatorProcess) -> Iterator[EmulatorProcess]:
    emulator.reset()
    yield emulator
    emulator.reset()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "client"
    path.mkdir()
    return path
