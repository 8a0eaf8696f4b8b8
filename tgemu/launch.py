"""Running the emulator and a tgstream server as child processes, wired only through their
public interfaces: the command line, the emulator's control API and the server's environment.

The one launcher for the tests, the bench and the demo.  Each child is `python -m ...` with
its output appended to a log file; it is stopped with a signal, then SIGKILL after a grace.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Self

import httpx

from .control_client import ControlClient, EmulatorConfig, PostedDocument, Upload

__all__ = [
    "HAPROXY_CONFIG",
    "Child",
    "EmulatorProcess",
    "HaproxyProcess",
    "Options",
    "RedisProcess",
    "ServerProcess",
    "free_port",
    "haproxy_binary",
    "haproxy_config",
    "inherited_env",
    "server_env",
    "wait_http",
]


def free_port(preferred: int = 0) -> int:
    """`preferred` if it is free (0: any), else any free loopback port."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            chosen: int = sock.getsockname()[1]
            return chosen
    raise RuntimeError("no free port")


def wait_http(
    url: str, proc: subprocess.Popen[bytes] | None, what: str, timeout: float = 60.0
) -> None:
    """Until `url` answers 200; RuntimeError if `proc` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}; see its log")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer on {url} within {timeout:.0f} s")


def inherited_env() -> dict[str, str]:
    """This process's environment without any Telegram credentials of its own."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("API_", "BOT_", "MULTI_"))}


def server_env(
    config: EmulatorConfig, session_dir: Path, port: int, bots: int = 1
) -> dict[str, str]:
    """The settings of a `tgstream serve` on 127.0.0.1:`port` pointed at the emulator whose
    /config is `config`, signed in as its first bot (and the next `bots - 1` as extra bots)."""
    env = {
        "API_ID": str(config["api_id"]),
        "API_HASH": config["api_hash"],
        "BOT_TOKEN": config["bot_tokens"][0],
        "BIN_CHANNEL": str(config["bin_channel"]),
        "TG_DC_ADDRESSES": ",".join(
            f"{dc}={entry['host']}:{entry['port']}" for dc, entry in config["dcs"].items()
        ),
        "TG_RSA_PUBLIC_KEY": config["rsa_public_key"],
        "SESSION_DIR": str(session_dir),
        "PORT": str(port),
        "BIND_ADDRESS": "127.0.0.1",
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    for index in range(1, bots):
        env[f"MULTI_TOKEN{index}"] = config["bot_tokens"][index]
    return env


@dataclass(frozen=True)
class Options:
    """How a child starts, beyond its command.  `new_session` puts it in its own process
    group (out of reach of a terminal's Ctrl-C; signals then go to the whole group);
    `pass_fds` and `preexec_fn` are Popen's."""

    cwd: Path | None = None
    new_session: bool = False
    pass_fds: tuple[int, ...] = ()
    preexec_fn: Callable[[], None] | None = None


class Child:
    """One `python -m MODULE ARGS` child with its output appended to `log_path`."""

    def __init__(self, what: str, log_path: Path, options: Options | None = None) -> None:
        self.what = what
        self.log_path = log_path
        self.options = options or Options()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.what} was not started"
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spawn(self, args: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        self.execute([sys.executable, "-m", *args], env)

    def execute(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        with self.log_path.open("ab") as log:  # the child keeps its own copy
            self.proc = subprocess.Popen(
                list(argv),
                cwd=self.options.cwd,
                env=None if env is None else dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.options.new_session,
                pass_fds=self.options.pass_fds,
                preexec_fn=self.options.preexec_fn,
            )

    def wait_http(self, url: str, timeout: float = 60.0) -> None:
        wait_http(url, self.proc, self.what, timeout)

    def send(self, signum: int) -> None:
        """`signum` to the child (its group, with `new_session`), while it is not reaped:
        until then its pid, and so its group id, are still its own."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.options.new_session:
                os.killpg(proc.pid, signum)
            else:
                proc.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        """`signum`, then SIGKILL after `timeout` s; its exit code (None: never started)."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            self.send(signum)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.send(signal.SIGKILL)
                proc.wait()
        self.proc = None
        return proc.returncode


class EmulatorProcess(Child):
    """`tgstream emulator`, driven through its control API."""

    def __init__(
        self,
        state_dir: Path,
        log_path: Path,
        *,
        bots: int = 1,
        home_dc: int = 2,
        dcs: Sequence[int] | None = None,
        control_port: int = 0,
        options: Options | None = None,
    ) -> None:
        super().__init__("the emulator", log_path, options)
        self.state_dir = state_dir
        self.bots = bots
        self.home_dc = home_dc
        self.dcs = tuple(dcs) if dcs is not None else None
        self.control_port = control_port or free_port()
        self.control = ControlClient(self.url)
        self._config: EmulatorConfig | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    def args(self) -> list[str]:
        # As `tgstream emulator`: the command line a user runs, and the one the demo's
        # clash check recognises in /proc.
        args = ["tgstream", "emulator", "--control-port", str(self.control_port)]
        args += ["--state-dir", str(self.state_dir), "--bots", str(self.bots)]
        args += ["--home-dc", str(self.home_dc)]
        if self.dcs is not None:
            args += ["--dcs", ",".join(map(str, self.dcs))]
        return args

    def start(self, timeout: float = 60.0) -> Self:
        """Start it and wait until its control API answers."""
        self.spawn(self.args())
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        self.wait_http(f"{self.url}/healthz", timeout)
        self._config = None

    def stop(self, signum: int = signal.SIGINT, timeout: float = 10.0) -> int | None:
        """SIGINT by default: the emulator's clean stop (it closes its DCs and its store)."""
        return super().stop(signum, timeout)

    @property
    def config(self) -> EmulatorConfig:
        """Its /config, read once per start."""
        if self._config is None:
            self._config = self.control.config()
        return self._config

    def server_env(self, session_dir: Path, port: int, bots: int = 1) -> dict[str, str]:
        return server_env(self.config, session_dir, port, bots)

    def dc_address(self, dc: int) -> tuple[str, int]:
        entry = self.config["dcs"][str(dc)]
        return entry["host"], int(entry["port"])

    def post_to_channel(
        self, data: Upload, dc: int, name: str = "file.bin", **form: object
    ) -> PostedDocument:
        """An admin posts a file into the bin channel."""
        return self.control.post_to_channel(self.config["bin_channel"], data, dc, name, **form)

    def reset(self) -> None:
        """Counters to zero, every fault off."""
        self.control.reset_stats()
        self.control.clear_faults()


class ServerProcess(Child):
    """A server process (`tgstream serve` unless `module` says otherwise) configured only
    through its environment.  `nofile` is the (soft, hard) RLIMIT_NOFILE it starts with."""

    def __init__(
        self,
        env: Mapping[str, str],
        port: int,
        log_path: Path,
        *,
        module: Sequence[str] = ("tgstream", "serve"),
        nofile: tuple[int, int] | None = None,
        options: Options | None = None,
    ) -> None:
        options = options or Options()
        if nofile is not None:
            options = replace(options, preexec_fn=_then(options.preexec_fn, _nofile(nofile)))
        super().__init__(" ".join(module), log_path, options)
        self.environ = dict(env)
        self.port = port
        self.module = tuple(module)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0, wait_ready: bool = True) -> Self:
        """Start it; by default until every bot is signed in (/readyz), else until it
        listens (/healthz)."""
        self.spawn(self.module, self.environ)
        self.wait_ready(timeout, wait_ready)
        return self

    def wait_ready(self, timeout: float = 60.0, signed_in: bool = True) -> None:
        self.wait_http(f"{self.url}{'/readyz' if signed_in else '/healthz'}", timeout)


class RedisProcess(Child):
    """Debian's `redis-server` on a loopback port, its data in `data_dir` with the
    append-only file on (what a replica's shared state is kept in).  Started again on the
    same port and directory, it comes back with what it had."""

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        *,
        port: int = 0,
        executable: str = "redis-server",
        options: Options | None = None,
    ) -> None:
        super().__init__("redis-server", log_path, options)
        self.data_dir = data_dir
        self.port = port or free_port()
        self.executable = executable

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def args(self) -> list[str]:
        return [
            self.executable,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
        ]  # fmt: skip

    def start(self, timeout: float = 30.0) -> Self:
        """Start it and wait until it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.execute(self.args())
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.what} exited with code {self.proc.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{self.what} did not answer on port {self.port} in {timeout:.0f} s")


# HAProxy in front of replicas ----------------------------------------------------------------

# The configuration compose.scale.yaml ships; the tests run it with loopback backends.
HAPROXY_CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "haproxy" / "haproxy.cfg"


def haproxy_config(shipped: str, backends: Sequence[tuple[str, int]]) -> str:
    """`shipped` with its one `server-template` line (replicas found in Docker's DNS) replaced
    by one `server` line per backend, named and numbered as the template names its slots, so
    the hash ring is the one shipped.  Everything else, checks and hashing included, stays."""
    lines = shipped.splitlines(keepends=True)
    at = [i for i, line in enumerate(lines) if line.split()[:1] == ["server-template"]]
    if len(at) != 1:
        raise ValueError(f"expected one server-template line, found {len(at)}")
    template = lines[at[0]]
    indent = template[: len(template) - len(template.lstrip())]
    prefix = template.split()[1]
    servers = [
        f"{indent}server {prefix}{n} {host}:{port}\n" for n, (host, port) in enumerate(backends, 1)
    ]
    return "".join(lines[: at[0]] + servers + lines[at[0] + 1 :])


class HaproxyProcess(Child):
    """Debian's `haproxy` in the foreground on loopback, balancing `backends` (ports on
    127.0.0.1) with the shipped configuration; its stats page says what it sees."""

    def __init__(
        self,
        backends: Sequence[int],
        config_path: Path,
        log_path: Path,
        *,
        port: int = 0,
        stats_port: int = 0,
        shipped: Path = HAPROXY_CONFIG,
    ) -> None:
        super().__init__("haproxy", log_path)
        self.backends = tuple(backends)
        self.config_path = config_path
        self.shipped = shipped
        self.port = port or free_port()
        self.stats_port = stats_port or free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stats_url(self) -> str:
        return f"http://127.0.0.1:{self.stats_port}/stats;csv"

    def start(self, timeout: float = 30.0, wait_up: bool = True) -> Self:
        """Start it; until it answers and (by default) sees every backend up."""
        backends = [("127.0.0.1", port) for port in self.backends]
        self.config_path.write_text(haproxy_config(self.shipped.read_text(), backends))
        env = {
            **os.environ,
            "TGSTREAM_LB_BIND": f"127.0.0.1:{self.port}",
            "TGSTREAM_LB_STATS_BIND": f"127.0.0.1:{self.stats_port}",
        }
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [haproxy_binary(), "-db", "-f", str(self.config_path)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_http(self.stats_url, timeout)
        if wait_up:
            self.wait_status(dict.fromkeys(self.servers(), "UP"), timeout)
        return self

    def servers(self) -> dict[str, dict[str, str]]:
        """Each backend server's row of the stats CSV (status, stot: requests sent, ...)."""
        text = httpx.get(self.stats_url, timeout=5).text.removeprefix("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {
            row["svname"]: row
            for row in rows
            if row["pxname"] == "tgstream" and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def wait_status(self, wanted: Mapping[str, str], timeout: float = 30.0) -> None:
        """Until each named server's status starts with the wanted one ("UP", "DOWN")."""
        deadline = time.monotonic() + timeout
        while True:
            seen = {name: row["status"] for name, row in self.servers().items()}
            if all(seen.get(name, "").startswith(state) for name, state in wanted.items()):
                return
            if not self.running() or time.monotonic() > deadline:
                raise RuntimeError(f"haproxy: wanted {dict(wanted)}, saw {seen}; see its log")
            time.sleep(0.1)


def haproxy_binary() -> str:
    """Debian installs it in /usr/sbin, which a user's PATH may lack."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    found = shutil.which("haproxy", path=path)
    if found is None:
        raise RuntimeError("haproxy is not installed (Debian: apt-get install haproxy)")
    return found


def _nofile(limits: tuple[int, int]) -> Callable[[], None]:
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)

    return limit


def _then(first: Callable[[], None] | None, second: Callable[[], None]) -> Callable[[], None]:
    if first is None:
        return second

    def both() -> None:
        first()
        second()

    return both
