"""The container recipe, checked without a Docker engine: it installs the very lock CI
installs, and its entrypoint command runs here and serves."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.processes import ROOT, EmulatorProcess, free_port, server_env

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_image_installs_the_lock_ci_installs() -> None:
    installs = re.findall(r"pip install [^\n]*-r (\S+)", DOCKERFILE)
    assert installs == ["requirements.txt"]
    dev = (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert "-r requirements.txt" in dev
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet -r requirements-dev.txt" in makefile
    assert (
        "bash" in (ROOT / ".ci" / "run").read_text()
        and "make test" in (ROOT / ".ci" / "run").read_text()
    )
    # Every runtime pin is exact, so the image and CI resolve the same versions.
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][^\s]*", line), line


def test_image_is_non_root_with_sessions_volume_and_healthcheck() -> None:
    assert re.search(r"^FROM python:3\.11-slim", DOCKERFILE, re.M)
    assert re.search(r"^USER (?!root)\w+", DOCKERFILE, re.M)
    assert 'VOLUME ["/data/sessions"]' in DOCKERFILE and "SESSION_DIR=/data/sessions" in DOCKERFILE
    assert "HEALTHCHECK" in DOCKERFILE and "/healthz" in DOCKERFILE
    compose = (ROOT / "compose.yaml").read_text()
    assert "sessions:/data/sessions" in compose


def _command() -> list[str]:
    entry = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", DOCKERFILE, re.M).group(1))  # type: ignore[union-attr]
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.M).group(1))  # type: ignore[union-attr]
    return [*entry, *cmd]


def test_entrypoint_command_runs_and_serves(emulator: EmulatorProcess, tmp_path: Path) -> None:
    command = _command()
    assert command == ["tgstream", "serve"]
    executable = Path(sys.executable).parent / command[0]
    port = free_port()
    env = server_env(emulator, tmp_path / "sessions", port)
    proc = subprocess.Popen([str(executable), *command[1:]], env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").json()["ready"]:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError("the entrypoint command never became healthy")
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
