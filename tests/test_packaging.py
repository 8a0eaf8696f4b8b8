"""The container recipe, checked without a Docker engine: it installs the very lock CI
installs and only the product, and its entrypoint command runs here and serves."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.processes import ROOT, EmulatorProcess, free_port, server_env
from tgemu.launch import haproxy_binary, haproxy_config

DOCKERFILE = (ROOT / "Dockerfile").read_text()


# What a production image must not install: the emulator's and the tests' HTTP client and
# upload parser, browser drivers, test and lint tools.  (PyAV is in it: media probes and HLS.)
NOT_IN_IMAGE = {
    "httpx",
    "python-multipart",
    "playwright",
    "pytest",
    "hypothesis",
    "schemathesis",
    "ruff",
    "mypy",
    "import-linter",
    "py-spy",
}


def _pins(name: str) -> dict[str, str]:
    """Package (lower case) -> version of one requirements file, its `-r` includes aside."""
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        if line and not line.startswith(("#", "-r ")):
            # Exact pins only, so the image, CI and make resolve the same versions.
            assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][^\s]*", line), (name, line)
            package, version = line.split("==")
            pins[package.lower().replace("_", "-")] = version
    return pins


def test_image_installs_the_lock_ci_installs() -> None:
    installs = re.findall(r"pip install [^\n]*-r (\S+)", DOCKERFILE)
    assert installs == ["requirements.txt"]
    dev = (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert "-r requirements.txt" in dev and "-r requirements-demo.txt" in dev
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet -r requirements-dev.txt" in makefile
    assert (
        "bash" in (ROOT / ".ci" / "run").read_text()
        and "make test" in (ROOT / ".ci" / "run").read_text()
    )
    runtime, demo, tools = (_pins(f"requirements{s}.txt") for s in ("", "-demo", "-dev"))
    assert not NOT_IN_IMAGE & runtime.keys()
    assert {"httpx", "python-multipart"} <= demo.keys()
    assert "av" in runtime
    assert {"import-linter", "pytest", "playwright"} <= tools.keys()
    # One version per package across the three files.
    for package in runtime.keys() & demo.keys() | runtime.keys() & tools.keys():
        assert runtime[package] == demo.get(package, tools.get(package)), package


def test_image_copies_only_the_product() -> None:
    copied = [line.split()[1:-1] for line in DOCKERFILE.splitlines() if line.startswith("COPY")]
    assert copied == [
        ["npm/package.json", "npm/package-lock.json"],  # the hls.js stage's pin
        ["requirements.txt"],
        ["pyproject.toml", "README.md"],
        ["tgstream"],
        # hls.js's built file and licence, the only things taken from the npm stage
        ["--from=static", "/build/node_modules/hls.js/dist/hls.min.js"],
        ["--from=static", "/build/node_modules/hls.js/LICENSE"],
    ]
    instructions = "\n".join(line for line in DOCKERFILE.splitlines() if not line.startswith("#"))
    assert not re.search(r"tgemu|tgbench|playwright|chromium", instructions)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        assert re.split(r"[<>=!~\[ ]", requirement)[0].lower() not in NOT_IN_IMAGE
    assert any(r.startswith("av") for r in project["dependencies"])


def _product_only(tmp_path: Path) -> Path:
    """What the image's build stage holds: pyproject.toml, README.md and tgstream/."""
    tree = tmp_path / "app"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(ROOT / "tgstream", tree / "tgstream", ignore=shutil.ignore_patterns("*.pyc"))
    return tree


def test_pip_install_of_the_image_tree_finds_only_tgstream(tmp_path: Path) -> None:
    tree = _product_only(tmp_path)
    probe = (
        "from setuptools.dist import Distribution\n"
        "d = Distribution(); d.parse_config_files(); print(' '.join(d.packages))"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", probe],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    packages = proc.stdout.split()
    assert "tgstream" in packages and "tgstream.web" in packages
    assert all(p == "tgstream" or p.startswith("tgstream.") for p in packages), packages


def test_the_production_cli_names_what_is_missing(tmp_path: Path) -> None:
    """Where only tgstream is installed, `tgstream emulator|demo|bench` say in one line
    which parts are missing and exit 2 (no traceback)."""
    tree = _product_only(tmp_path)
    # -S: no site-packages, so neither the checkout's tgemu/tgbench nor PyAV can be found.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    for command, missing in (
        ("emulator", ["tgemu"]),
        ("demo", ["tgemu", "av"]),
        ("bench", ["tgemu", "tgbench"]),
    ):
        proc = subprocess.run(
            [sys.executable, "-S", "-m", "tgstream", command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2, (command, proc.stderr)
        line = proc.stderr.strip()
        assert "\n" not in line and line.startswith(f"tgstream {command}: "), line
        assert all(name in line for name in missing) and "not installed" in line, line


def test_the_server_loads_no_emulator_bench_demo_or_test_code() -> None:
    probe = "import sys, tgstream.server; print(' '.join(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    loaded = {name.split(".")[0] for name in proc.stdout.split()}
    assert "tgstream" in loaded and "fastapi" in loaded
    forbidden = {"tgemu", "tgbench", "tests", "httpx", "pytest", "_pytest"}
    forbidden |= {"hypothesis", "playwright", "schemathesis"}
    assert not loaded & forbidden, loaded & forbidden


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


# Several replicas: compose.scale.yaml and the HAProxy configuration it mounts -------------------

SCALE = yaml.safe_load((ROOT / "compose.scale.yaml").read_text())
HAPROXY_CFG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"


def _haproxy_check(path: Path) -> str:
    """`haproxy -c` of `path`: valid, and without a warning."""
    proc = subprocess.run(
        [haproxy_binary(), "-c", "-f", str(path)], capture_output=True, text=True, timeout=60
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Configuration file is valid" in output
    assert "[WARNING]" not in output and "[ALERT]" not in output, output
    return output


def test_the_shipped_haproxy_configuration_is_valid_and_is_what_the_tests_run(
    tmp_path: Path,
) -> None:
    _haproxy_check(HAPROXY_CFG)
    shipped = HAPROXY_CFG.read_text()
    rendered = haproxy_config(shipped, [("127.0.0.1", 18001), ("127.0.0.1", 18002)])
    (tmp_path / "loopback.cfg").write_text(rendered)
    _haproxy_check(tmp_path / "loopback.cfg")
    # Only the replicas' line differs, and the servers are named as the template's slots.
    shipped_lines, rendered_lines = shipped.splitlines(), rendered.splitlines()
    removed = [line for line in shipped_lines if line not in rendered_lines]
    added = [line for line in rendered_lines if line not in shipped_lines]
    assert [line.split()[:3] for line in removed] == [["server-template", "tgstream", "10"]]
    assert added == [
        "    server tgstream1 127.0.0.1:18001",
        "    server tgstream2 127.0.0.1:18002",
    ]
    for broken in (shipped.replace("server-template", "#"), shipped + removed[0] + "\n"):
        with pytest.raises(ValueError):
            haproxy_config(broken, [("127.0.0.1", 1)])


def test_the_haproxy_configuration_hashes_on_the_message_id_and_streams() -> None:
    directives = [line.split("#")[0].strip() for line in HAPROXY_CFG.read_text().splitlines()]
    # /dl/{id}/... and /watch/{id}/...: the third '/'-separated field is the id.
    assert "balance hash path,field(3,/)" in directives
    assert any(d.startswith("hash-type consistent") for d in directives)
    assert "http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host tgstream" in directives
    assert "option redispatch 1" in directives and "retries 3" in directives
    assert not [d for d in directives if d.startswith(("compression", "cache", "filter"))]
    assert "option http-buffer-request" not in directives
    timeouts = {d.split()[1]: d.split()[2] for d in directives if d.startswith("timeout ")}
    # Longer than the replica's own STALL_TIMEOUT (300 s): tgstream decides, not HAProxy.
    assert timeouts["client"] == timeouts["server"] == "6m"


def test_compose_scale_runs_redis_haproxy_and_replicas_of_the_image() -> None:
    services = SCALE["services"]
    assert set(services) == {"redis", "haproxy", "tgstream"}
    single = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["tgstream"]

    redis = services["redis"]
    command = redis["command"]
    assert command[0] == "redis-server" and command[command.index("--appendonly") + 1] == "yes"
    assert "redis:/data" in redis["volumes"] and "redis" in SCALE["volumes"]

    replica = services["tgstream"]
    for key in ("build", "image", "env_file"):
        assert replica[key] == single[key], key
    env = replica["environment"]
    assert env["STATE_URL"] == "redis://redis:6379/0"
    assert env["BIND_ADDRESS"] == "0.0.0.0"
    # Scaled replicas publish no host port (they would clash) and share no sessions volume.
    assert "ports" not in replica and "volumes" not in replica
    assert replica["depends_on"]["redis"]["condition"] == "service_healthy"

    haproxy = services["haproxy"]
    version = subprocess.run(
        [haproxy_binary(), "-v"], capture_output=True, text=True, check=True
    ).stdout
    branch = re.search(r"version (\d+\.\d+)\.", version).group(1)  # type: ignore[union-attr]
    assert haproxy["image"] == f"haproxy:{branch}", "ship the HAProxy branch the tests run"
    assert (
        "./deploy/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in (haproxy["volumes"])
    )
    assert "8080:8080" in haproxy["ports"]
    # HAProxy finds the replicas by the service's name in Docker's DNS, on their port.
    template = next(
        line.split()
        for line in HAPROXY_CFG.read_text().splitlines()
        if line.split()[:1] == ["server-template"]
    )
    assert template[3] == f"tgstream:{env['PORT']}"
    assert template[template.index("resolvers") + 1] == "docker"
    assert "nameserver docker 127.0.0.11:53" in HAPROXY_CFG.read_text()
