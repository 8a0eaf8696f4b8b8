"""SESSION_DIR in trouble: full, read-only, corrupt, or already used by another server.
A full disk costs nothing but the records (links keep working); every start-up problem is
one line naming the path and the cause, and exit code 2."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import EmulatorProcess, ServerProcess
from tests.support.transfers import sha

MiB = 1 << 20


@contextlib.contextmanager
def tmpfs(path: Path, size: str, *options: str) -> Iterator[Path]:
    """A small filesystem of its own at `path` (the tests run as root, as CI does)."""
    path.mkdir(parents=True, exist_ok=True)
    opts = ",".join([f"size={size}", "mode=0700", *options])
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> None:
    """Write until the filesystem says it is full."""
    with open(path / "filler", "wb") as filler:
        chunk = b"\0" * 65536
        with contextlib.suppress(OSError):
            while True:
                filler.write(chunk)
                filler.flush()


def failed_start(server: ServerProcess) -> tuple[int, list[str]]:
    """Start a server that must refuse: its exit code and the lines it printed."""
    with pytest.raises(RuntimeError, match="exited with code"):
        server.start(timeout=30, wait_ready=False)
    assert server.proc is not None
    code = server.proc.wait(10)
    server.proc = None
    lines = [line for line in server.logs().splitlines() if line.strip()]
    return code, lines


def server_on(emu: EmulatorProcess, session_dir: Path, log: Path) -> ServerProcess:
    return ServerProcess(emu, session_dir, log)


@pytest.fixture(autouse=True)
def as_root() -> None:
    assert os.geteuid() == 0, "these tests mount small filesystems, as CI (root) can"


def test_a_full_session_dir_still_serves_new_links(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    files = [os.urandom(300_000 + i) for i in range(3)]
    ids = [
        int(emulator.post_to_channel(d, dc=4, name=f"f{i}.bin")["message_id"])
        for i, d in enumerate(files)
    ]
    with tmpfs(tmp_path / "full", "16m") as session_dir:
        server = server_on(emulator, session_dir, tmp_path / "full.log")
        server_factory.append(server)
        server.start()
        fill(session_dir)
        for message_id, data in zip(ids, files, strict=True):
            response = httpx.get(server.link(message_id), timeout=60)
            assert response.status_code == 200, response.text
            assert sha(response.content) == sha(data)
        assert server.status()["store_write_failures"] > 0
        assert "Traceback" not in server.logs()
        server.stop()


def test_a_read_only_session_dir_is_one_line_and_exit_2(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "ro", "1m", "ro") as session_dir:
        code, lines = failed_start(server_on(emulator, session_dir, tmp_path / "ro.log"))
    assert code == 2
    assert lines == [f"tgstream: SESSION_DIR {session_dir}/tgstream.lock: Read-only file system"]


def test_a_corrupt_store_is_one_line_and_exit_2(emulator: EmulatorProcess, tmp_path: Path) -> None:
    session_dir = tmp_path / "corrupt"
    session_dir.mkdir()
    (session_dir / "tgstream.sqlite3").write_bytes(os.urandom(8192))
    code, lines = failed_start(server_on(emulator, session_dir, tmp_path / "corrupt.log"))
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(
        f"tgstream: SESSION_DIR {session_dir}/tgstream.sqlite3: not a usable"
    )


def test_a_corrupt_bot_session_is_one_line_and_exit_2(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    session_dir = tmp_path / "badsession"
    session_dir.mkdir()
    bot_id = emulator.config["bot_ids"][0]
    bad = session_dir / f"bot-{bot_id}.session"
    bad.write_bytes(b"SQLite format 3\0" + os.urandom(4000))
    code, lines = failed_start(server_on(emulator, session_dir, tmp_path / "badsession.log"))
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"tgstream: SESSION_DIR {bad}: not a usable session file")


def test_a_second_server_on_the_same_session_dir_is_refused(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    session_dir = tmp_path / "shared"
    session_dir.mkdir()
    first = server_on(emulator, session_dir, tmp_path / "first.log")
    server_factory.append(first)
    first.start()
    assert first.proc is not None
    code, lines = failed_start(server_on(emulator, session_dir, tmp_path / "second.log"))
    assert code == 2
    assert lines == [
        f"tgstream: SESSION_DIR {session_dir}: in use by process {first.proc.pid} "
        "(another tgstream serve); stop it or use another SESSION_DIR"
    ]
    assert httpx.get(f"{first.url}/readyz").status_code == 200
