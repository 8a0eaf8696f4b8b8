from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support.processes import EmulatorProcess
from tgemu.launch import RedisProcess

# Property tests check what the code answers, not how fast the examples come: on a busy
# machine (two CPU hogs beside three workers) Hypothesis's timing checks failed inputs that
# were drawn in milliseconds alone.
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")


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


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """One Debian redis-server (AOF on) on a free loopback port for the session; tests that
    use it start from an empty database (`redis_url`)."""
    base = tmp_path_factory.mktemp("redis")
    server = RedisProcess(base / "data", base / "redis.log").start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisProcess) -> str:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url
