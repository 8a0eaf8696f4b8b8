"""`tgstream demo` and signals, with real processes: SIGTERM, SIGHUP, SIGINT and SIGKILL leave
no child running and the port free; a demo that finds another demo (or what is left of one)
on its state directory or port says so in one line and exits 2.

Bounds are outcomes, not timings: the demo exits within 20 s of a signal (its grace before
SIGKILL is 8 s) and its children are gone within 20 s."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import ROOT, free_port
from tgemu.launch import wait_http

START_TIMEOUT = 180.0  # links printed (the sample video is made once per module)
STOP_TIMEOUT = 20.0  # the demo gone after a signal, and every child of it


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tgemu.demo.sample import cached_sample

    return cached_sample(tmp_path_factory.mktemp("media"))


def demo_state(base: Path, sample: Path, name: str = "demo") -> Path:
    """A fresh state directory whose sample video is already made."""
    media = base / name / "media"
    media.mkdir(parents=True)
    os.link(sample, media / sample.name)
    return base / name


def demo_command(state: Path, port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tgstream",
        "demo",
        "--state-dir",
        str(state),
        "--port",
        str(port),
        *extra,
    ]


def stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from the state field on (the name in parentheses may hold spaces)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def children_of(parent: int) -> dict[int, str]:
    """The processes whose parent is `parent`, each with its start time (against pid reuse)."""
    found = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = stat_fields(int(name))
            if fields is not None and int(fields[1]) == parent:
                found[int(name)] = fields[19]
    return found


def alive(pid: int, started: str) -> bool:
    """Still running: a zombie, or another process under the same pid, is gone."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X") and fields[19] == started


def still_running(children: dict[int, str]) -> list[int]:
    return [pid for pid, started in children.items() if alive(pid, started)]


def eventually(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def can_listen(port: int) -> bool:
    """A server could listen on the port again (SO_REUSEADDR, as servers set it)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
    return True


def read_links(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    """The demo's JSON line, read without blocking past START_TIMEOUT."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    output = b""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not select.select([fd], [], [], 1.0)[0]:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        output += chunk
        for line in output.split(b"\n")[:-1]:
            if line.startswith(b'{"demo"'):
                info: dict[str, Any] = json.loads(line)["demo"]
                return info
    pytest.fail(f"no links from the demo within {START_TIMEOUT:.0f} s:\n{output.decode()}")


@contextlib.contextmanager
def running_demo(
    state: Path, port: int
) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any], dict[int, str]]]:
    """A demo that has printed its links, with its children (the emulator and the server);
    whatever a failing test leaves of them is killed."""
    proc = subprocess.Popen(
        demo_command(state, port), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    children: dict[int, str] = {}
    try:
        info = read_links(proc)
        children = children_of(proc.pid)
        commands = sorted(Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children)
        assert len(children) == 2, commands
        assert b"emulator" in commands[0] and b"serve" in commands[1], commands
        yield proc, info, children
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pid in still_running(children):
            os.kill(pid, signal.SIGKILL)
        if proc.stdout is not None:
            proc.stdout.close()


def assert_all_gone(proc: subprocess.Popen[bytes], children: dict[int, str], port: int) -> None:
    try:
        code = proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the demo still runs {STOP_TIMEOUT:.0f} s after the signal")
    assert code == 0
    assert eventually(lambda: not still_running(children), STOP_TIMEOUT), (
        f"children still running: {still_running(children)}"
    )
    assert can_listen(port), f"port {port} still held"


def refusal(state: Path, port: int) -> tuple[int, str, str]:
    """Run a demo expected to refuse at once; should it start instead, it and its children
    are killed after 60 s."""
    proc = subprocess.Popen(
        demo_command(state, port),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        for pid in still_running(children_of(proc.pid)):
            os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.communicate()
        pytest.fail("the demo did not refuse within 60 s")
    return proc.returncode, out, err


def test_sigterm_stops_every_child_and_a_new_demo_starts(tmp_path: Path, sample: Path) -> None:
    state = demo_state(tmp_path, sample)
    port = free_port()
    with running_demo(state, port) as (proc, _, children):
        proc.send_signal(signal.SIGTERM)
        assert_all_gone(proc, children, port)
    # The lock file still names the demo that is gone: that must not block the next one,
    # which gets the same port.
    assert (state / "demo.lock").read_text().strip() == str(proc.pid)
    again = subprocess.run(
        demo_command(state, port, "--exit-after-start"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    info = json.loads(again.stdout.splitlines()[-1])["demo"]
    assert info["public_url"] == f"http://127.0.0.1:{port}"
    assert can_listen(port)


def test_sighup_with_the_terminal_gone_stops_every_child(tmp_path: Path, sample: Path) -> None:
    state = demo_state(tmp_path, sample)
    port = free_port()
    with running_demo(state, port) as (proc, _, children):
        # A closed terminal: nothing the demo prints from now on can be written.
        assert proc.stdout is not None
        proc.stdout.close()
        proc.send_signal(signal.SIGHUP)
        assert_all_gone(proc, children, port)


def test_sigkill_of_the_demo_takes_its_children_along(tmp_path: Path, sample: Path) -> None:
    state = demo_state(tmp_path, sample)
    port = free_port()
    with running_demo(state, port) as (proc, _, children):
        proc.kill()
        proc.wait()
        assert eventually(lambda: not still_running(children), STOP_TIMEOUT), (
            f"children still running: {still_running(children)}"
        )
        assert can_listen(port)


def test_a_second_demo_is_refused_in_one_line(tmp_path: Path, sample: Path) -> None:
    state = demo_state(tmp_path, sample)
    port = free_port()
    with running_demo(state, port) as (proc, _, children):
        code, out, err = refusal(state, free_port())
        assert (code, out) == (2, ""), err
        assert len(err.splitlines()) == 1, err
        assert f"another demo (pid {proc.pid}) is running" in err and f"kill {proc.pid}" in err
        # Another state directory, the same port.
        code, out, err = refusal(demo_state(tmp_path, sample, "other"), port)
        assert (code, out) == (2, ""), err
        assert len(err.splitlines()) == 1, err
        assert f"port {port} is held by another demo (pid {proc.pid})" in err
        # The running demo is untouched, and Ctrl-C stops it like the other signals.
        assert sorted(still_running(children)) == sorted(children)
        proc.send_signal(signal.SIGINT)
        assert_all_gone(proc, children, port)


def test_what_an_earlier_demo_left_running_is_named(tmp_path: Path, sample: Path) -> None:
    """An emulator left running on the state directory (as the children of a demo killed
    before demos took their children along were): named by pid, not a traceback later."""
    state = demo_state(tmp_path, sample)
    control_port = free_port()
    log = (state / "emulator.log").open("ab")
    left = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tgstream",
            "emulator",
            "--control-port",
            str(control_port),
            "--state-dir",
            str(state / "emulator"),
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    try:
        wait_http(f"http://127.0.0.1:{control_port}/healthz", left, "the emulator")
        code, out, err = refusal(state, free_port())
        assert (code, out) == (2, ""), err
        assert len(err.splitlines()) == 1, err
        assert f"pid {left.pid} tgstream emulator" in err and f"kill {left.pid}" in err
        # Its port, from a demo on another state directory.
        code, out, err = refusal(demo_state(tmp_path, sample, "other"), control_port)
        assert (code, out) == (2, ""), err
        assert len(err.splitlines()) == 1, err
        assert f"port {control_port} is held by pid {left.pid} (tgstream emulator)" in err
        assert f"kill {left.pid}" in err
    finally:
        left.kill()
        left.wait()


def test_a_host_the_demo_cannot_check_is_refused_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        demo_command(tmp_path / "demo", free_port(), "--host", "192.0.2.1"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "tgstream demo: --host must be one of 127.0.0.1, 0.0.0.0, ::"
    ]
    assert not (tmp_path / "demo").exists()  # nothing started, nothing written
