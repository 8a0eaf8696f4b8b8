"""`tgstream demo`: the emulator, the server and a sample video, no credentials needed.

Both halves run as child processes, wired only through their public interfaces (the
emulator's CLI and control API, the server's environment), exactly as a deployment would be.

SIGINT, SIGTERM and SIGHUP (Ctrl-C, `kill` or `timeout`, a closed terminal) all stop the
demo the same way: its children get SIGTERM, then SIGKILL after a bounded grace, and it
exits 0 with nothing left running.  Should the demo itself be killed outright, the kernel
sends its children SIGTERM (Linux).  One demo runs per state directory: a lock file there,
held by the demo and inherited by its children, and a check for processes still using the
directory or the port turn a clash with an earlier demo into one line on stderr and exit
code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import fcntl
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from ..control_client import ControlClient
from ..launch import Child, EmulatorProcess, Options, ServerProcess, free_port, inherited_env

DEMO_USER = 100_001
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# What the children get between SIGTERM and SIGKILL: the server drains for up to 15 s of
# its own, but a demo that lingers after Ctrl-C is worse than a cut stream.
GRACE = 8.0
LOCK_NAME = "demo.lock"
PR_SET_PDEATHSIG = 1
LISTEN_HOSTS = ("127.0.0.1", "0.0.0.0", "::")


class Stop(BaseException):
    """A stop signal arrived.  Raised once, from the signal handler, wherever the demo is;
    a BaseException so that no `except Exception` on the way swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Refused(Exception):
    """The demo must not start: another demo, or what is left of one, holds its state
    directory or its port.  The message is one line saying which process and what to do."""


def _say(text: str = "", *, err: bool = False, end: str = "\n") -> None:
    """Print, unless the terminal or pipe is gone (a hang-up): then everything else meant
    for that stream goes to /dev/null, so neither the stop nor the exit trips over it."""
    stream = sys.stderr if err else sys.stdout
    try:
        print(text, file=stream, end=end, flush=True)
    except (OSError, ValueError):
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)


def _progress(fraction: float) -> None:
    width = 30
    filled = int(fraction * width)
    _say(
        f"\r  making the sample video [{'#' * filled}{'.' * (width - filled)}] "
        f"{fraction * 100:3.0f}%",
        end="",
    )


# --- who holds what: Linux /proc, best effort (nothing found elsewhere) --------------------


def _processes_with_open(match: Callable[[str], bool]) -> list[int]:
    """Processes other than this one with an open file whose /proc fd link `match`es.  Only
    this user's descriptors are readable, which is where an earlier demo's processes are."""
    me = os.getpid()
    found: list[int] = []
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == me:
                continue
            fd_dir = f"/proc/{name}/fd"
            try:
                fds = os.listdir(fd_dir)
            except OSError:
                continue
            for fd in fds:
                try:
                    target = os.readlink(f"{fd_dir}/{fd}")
                except OSError:
                    continue
                if match(target):
                    found.append(int(name))
                    break
    return sorted(found)


def _tgstream_command(pid: int) -> str | None:
    """'tgstream serve', 'tgstream demo', ... for a tgstream process, else None."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    words = [word.decode(errors="replace") for word in raw.split(b"\0") if word]
    for i, word in enumerate(words[:-1]):
        if os.path.basename(word) == "tgstream":
            return f"tgstream {words[i + 1]}"
    return None


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may hold spaces; the parent is the second field after.
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 else None


def _listener(port: int) -> int | None:
    """The process listening on TCP `port`, if it is one of this user's."""
    sockets: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            listening = len(fields) > 9 and fields[3] == "0A"
            if listening and int(fields[1].rsplit(":", 1)[1], 16) == port:
                sockets.add(f"socket:[{fields[9]}]")
    holders = _processes_with_open(sockets.__contains__) if sockets else []
    return holders[0] if holders else None


def _can_listen(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:`port` now.  SO_REUSEADDR as the server
    sets it, so the TIME_WAIT connections of a demo that just stopped do not count."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _state_clash(state: Path, locked_by_other: bool, recorded: str) -> str | None:
    """Why a demo must not start on `state`, in one line, or None if nothing else uses it."""
    root = os.path.realpath(state) + os.sep
    users = [
        (pid, command)
        for pid in _processes_with_open(lambda target: target.startswith(root))
        if (command := _tgstream_command(pid)) is not None
    ]
    demos = [pid for pid, command in users if command == "tgstream demo"]
    if demos:
        return (
            f"another demo (pid {demos[0]}) is running with --state-dir {state}; stop it first "
            f"(Ctrl-C in its terminal, or kill {demos[0]}), or pass another --state-dir"
        )
    if users:
        listed = ", ".join(f"pid {pid} {command}" for pid, command in users)
        pids = " ".join(str(pid) for pid, _ in users)
        return (
            f"processes left by an earlier demo still use --state-dir {state} ({listed}); "
            f"stop them with: kill {pids}"
        )
    if locked_by_other:
        holder = f"process {recorded}" if recorded.isdigit() else "another process"
        return (
            f"{state / LOCK_NAME} is locked by {holder}; stop the demo using --state-dir "
            f"{state} first, or pass another --state-dir"
        )
    return None


def _port_clash(port: int) -> str | None:
    """Why the demo must not take `port`, in one line, when a tgstream process holds it."""
    holder = _listener(port)
    command = _tgstream_command(holder) if holder is not None else None
    if holder is None or command is None:
        return None
    parent = _parent(holder)
    if parent is not None and _tgstream_command(parent) == "tgstream demo":
        return (
            f"port {port} is held by another demo (pid {parent}); stop it first (Ctrl-C in "
            f"its terminal, or kill {parent}), or pass --port 0 for any free port"
        )
    return (
        f"port {port} is held by pid {holder} ({command}), perhaps left by an earlier demo; "
        f"stop it with: kill {holder} (or pass --port 0 for any free port)"
    )


# --- the children ---------------------------------------------------------------------------


def _load_prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def _child_setup(parent: int) -> Callable[[], None]:
    """Runs in each child between fork and exec: default signal actions (so that a SIGTERM
    before exec is not caught by the demo's handlers, copied with the fork), SIGTERM when the
    demo dies however it dies, and an immediate exit if it is already gone."""

    def setup() -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        if _PRCTL is not None:
            _PRCTL(ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGTERM))
        if os.getppid() != parent:
            os._exit(1)

    return setup


class Demo:
    def __init__(
        self, state: Path, port: int, host: str = "127.0.0.1", public_url: str | None = None
    ) -> None:
        self.state = state
        self.port = port
        # Where the server listens, and the base of its links: another machine needs an
        # address of this one it can reach (--host 0.0.0.0 --public-url http://box:8080).
        self.host = host
        self.public_url = public_url.rstrip("/") if public_url else None
        self.children: list[Child] = []
        self.lock_fd: int | None = None
        self.signalled: int | None = None  # the first stop signal
        self.deferred = False  # a first stop signal is raised at the end of spawn()
        self.stopping = False  # a first stop signal only notes itself
        self.hurry = False  # a second Ctrl-C: no grace

    # Signals ---------------------------------------------------------------------------------

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """The first stop signal raises Stop (later, when it lands in spawn's critical part),
        unless the demo is stopping anyway; later ones only note a second Ctrl-C."""
        if self.signalled is not None:
            self.hurry = self.hurry or signum == self.signalled == signal.SIGINT
            return
        self.signalled = signum
        if not (self.deferred or self.stopping):
            raise Stop(signum)

    def install_signal_handlers(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self.on_signal)

    # The state directory -----------------------------------------------------------------------

    def lock(self) -> None:
        """Hold the state directory (the lock file records this process's id), or Refused."""
        path = self.state / LOCK_NAME
        try:
            self.state.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        except OSError as exc:
            raise Refused(f"cannot use --state-dir {self.state}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked_by_other = False
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                os.close(fd)
                raise Refused(f"cannot lock {path}: {exc.strerror}") from None
            locked_by_other = True
        recorded = os.pread(fd, 32, 0).decode(errors="replace").strip()
        clash = _state_clash(self.state, locked_by_other, recorded)
        if clash is not None:
            os.close(fd)
            raise Refused(clash)
        # A pid left in the file by a demo that is gone means nothing: the lock went with it.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.lock_fd = fd

    def unlock(self) -> None:
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    def choose_port(self) -> int:
        """The port asked for; another free one if something that is not tgstream has it."""
        if self.port == 0:
            return free_port()
        if _can_listen(self.port):
            return self.port
        clash = _port_clash(self.port)
        if clash is not None:
            raise Refused(clash)
        port = free_port()
        _say(f"port {self.port} is in use; the server takes {port} instead")
        return port

    # Children ----------------------------------------------------------------------------------

    def options(self) -> Options:
        """Each child in its own process group, out of reach of the terminal's Ctrl-C (the
        demo stops the children itself, the server first), holding the lock, which so lives
        on while any process of this demo does."""
        return Options(
            new_session=True,
            pass_fds=() if self.lock_fd is None else (self.lock_fd,),
            preexec_fn=_child_setup(os.getpid()),
        )

    def spawn(self, child: Child, args: Sequence[str], env: dict[str, str] | None = None) -> None:
        # A child started but not yet in `children` would be missed by stop(): a signal in
        # between is acted on just after.
        self.deferred = True
        try:
            child.spawn(args, env)
            self.children.append(child)
        finally:
            self.deferred = False
        if self.signalled is not None:
            raise Stop(self.signalled)

    def stop(self) -> None:
        """SIGTERM to every child's group, SIGKILL to what is left after GRACE seconds (at
        once on a second Ctrl-C); returns when all are gone."""
        live = [child for child in reversed(self.children) if child.running()]
        for child in live:
            child.send(signal.SIGTERM)
        deadline = time.monotonic() + GRACE
        while not self.hurry and time.monotonic() < deadline:
            if not any(child.running() for child in live):
                break
            time.sleep(0.05)
        for child in live:
            if child.running():
                child.send(signal.SIGKILL)
                assert child.proc is not None
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(10)

    def run(self) -> dict[str, Any]:
        port = self.choose_port()
        emulator = EmulatorProcess(
            self.state / "emulator", self.state / "emulator.log", options=self.options()
        )
        _say("starting the Telegram DC emulator ...")
        self.spawn(emulator, emulator.args())
        emulator.wait_ready()

        from .sample import cached_sample

        video = cached_sample(self.state / "media", progress=_progress)
        _say(f"\r  sample video: {video} ({video.stat().st_size / 1e6:.1f} MB)" + " " * 20)

        env = {
            **inherited_env(),
            **emulator.server_env(self.state / "sessions", port),
            "LOG_JSON": "false",
            "BIND_ADDRESS": self.host,
        }
        if self.public_url is not None:
            env["PUBLIC_URL"] = self.public_url
        elif self.host not in ("127.0.0.1", "0.0.0.0", "::"):
            env["PUBLIC_URL"] = f"http://{self.host}:{port}"
        server = ServerProcess(env, port, self.state / "server.log", options=self.options())
        _say("starting tgstream serve ...")
        self.spawn(server, server.module, env)
        server.wait_ready()

        channel = emulator.config["bin_channel"]
        reused = _already_posted(emulator.control, channel, video)
        if reused is not None:
            _say(f"  the sample is already in the bin channel (message {reused}): not sent again")
            links = _links_of(reused, env, self.state)
        else:
            links = self._deliver(emulator.control, video)
        return {
            "control": emulator.url,
            "public_url": env["PUBLIC_URL"],
            "local_url": server.url,
            "user_id": str(DEMO_USER),
            "reused": str(reused is not None).lower(),
            **links,
        }

    def _deliver(self, control: ControlClient, video: Path) -> dict[str, str]:
        """Send the video as a user on DC 4 and take the links from the bot's reply."""
        from .thumbnail import make_thumbnail

        control.send_document(
            DEMO_USER,
            video,
            dc=4,
            name=video.name,
            kind="video",
            mime_type="video/mp4",
            # As a phone sends a video: with a thumbnail, the watch page's poster.
            thumb=make_thumbnail(video),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            urls = [u for reply in control.messages_to(DEMO_USER) for u in reply["urls"]]
            download = next((u for u in urls if "/dl/" in u), None)
            watch = next((u for u in urls if "/watch/" in u), None)
            if download and watch:
                return {"download": download, "watch": watch}
            time.sleep(0.2)
        raise RuntimeError("the bot did not reply within 30 s; see server.log")


def _already_posted(control: ControlClient, channel: int, video: Path) -> int | None:
    """The bin-channel message holding the sample already (same name and size), if any."""
    size = video.stat().st_size
    for message in control.channel_messages(channel):
        stored = message["file"]
        if stored and not stored["gone"] and (stored["name"], stored["size"]) == (video.name, size):
            return message["id"]
    return None


def _links_of(message_id: int, env: dict[str, str], cwd: Path) -> dict[str, str]:
    """The links `tgstream link` prints for a bin-channel message, with the server's settings
    (run where no stray .env is read)."""
    done = subprocess.run(
        [sys.executable, "-m", "tgstream", "link", str(message_id)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    urls = done.stdout.split()
    download = next((u for u in urls if "/dl/" in u), None)
    watch = next((u for u in urls if "/watch/" in u), None)
    if done.returncode != 0 or download is None or watch is None:
        raise RuntimeError(f"tgstream link {message_id} failed: {done.stderr.strip()}")
    # As the bot's reply gives it on the first run: a download link that saves.
    return {"download": f"{download}&download=1", "watch": watch}


def _send_command(control: str) -> str:
    """The command that sends a file of your own to the bot, as the demo user."""
    python = shlex.quote(sys.executable)
    return f"{python} -m tgemu.send YOUR_FILE --user {DEMO_USER} --control {control}"


def _start_and_wait(demo: Demo, args: argparse.Namespace) -> int:
    demo.install_signal_handlers()
    demo.lock()
    info = demo.run()
    info["send"] = _send_command(info["control"])
    _say()
    _say("The links of this run:")
    _say(f"  download : {info['download']}")
    _say(f"  watch    : {info['watch']}")
    _say(f"  status   : {info['public_url']}/status")
    _say(f"  metrics  : {info['public_url']}/metrics")
    _say(f"  emulator : {info['control']}  (control API: /config /stats /faults)")
    _say(f"  logs     : {args.state_dir}/server.log, {args.state_dir}/emulator.log")
    _say()
    _say(f"You are the demo user, id {DEMO_USER}. To send the bot a file of your own (from")
    _say("this directory, while the demo runs), and get its links:")
    _say(f"  {info['send']}")
    _say("\nPress Ctrl-C to stop.")
    _say(json.dumps({"demo": info}))
    if args.exit_after_start:
        return 0
    while all(child.running() for child in demo.children):
        time.sleep(0.5)
    _say("tgstream demo: a child process exited; stopping", err=True)
    return 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tgstream demo", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=Path("state/demo"))
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="where the server listens (0.0.0.0: every interface, to open it from elsewhere)",
    )
    parser.add_argument(
        "--public-url",
        help="the base of the links, as other machines reach this one "
        "(e.g. http://192.168.1.5:8080); default: http://HOST:PORT",
    )
    parser.add_argument("--exit-after-start", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.host not in LISTEN_HOSTS:
        # The demo checks the server on loopback, which these all include.
        _say(f"tgstream demo: --host must be one of {', '.join(LISTEN_HOSTS)}", err=True)
        return 2
    demo = Demo(args.state_dir, args.port, args.host, args.public_url)
    code = 1
    # Stop is raised at most once, by the first signal; the outer handler is for that one
    # landing in the inner `finally` before `stopping` is set.
    try:
        try:
            code = _start_and_wait(demo, args)
        except Stop as stop:
            _say(f"\nstopping ({signal.Signals(stop.signum).name}) ...")
            code = 0
        except Refused as exc:
            _say(f"tgstream demo: {exc}", err=True)
            code = 2
        except RuntimeError as exc:
            _say(f"tgstream demo: {exc}", err=True)
            code = 1
        finally:
            demo.stopping = True
            demo.stop()
    except Stop:
        demo.stopping = True
        demo.stop()
        code = 0
    demo.unlock()
    return code
