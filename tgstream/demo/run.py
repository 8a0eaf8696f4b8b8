"""`tgstream demo`: the emulator, the server and a sample video, no credentials needed.

Both halves run as child processes, wired only through their public interfaces (the
emulator's CLI and control API, the server's environment), exactly as a deployment would be.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from .launch import free_port, inherited_env, server_env, wait_http

DEMO_USER = 100_001


def _progress(fraction: float) -> None:
    width = 30
    filled = int(fraction * width)
    print(
        f"\r  making the sample video [{'#' * filled}{'.' * (width - filled)}] "
        f"{fraction * 100:3.0f}%",
        end="",
        flush=True,
    )


class Demo:
    def __init__(self, state: Path, port: int) -> None:
        self.state = state
        self.port = port
        self.children: list[subprocess.Popen[bytes]] = []

    def spawn(
        self, args: list[str], log_name: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.state / log_name, "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(
            [sys.executable, "-m", "tgstream", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        log.close()
        self.children.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.children):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def run(self) -> dict[str, Any]:
        self.state.mkdir(parents=True, exist_ok=True)
        control_port = free_port()
        control = f"http://127.0.0.1:{control_port}"
        print("starting the Telegram DC emulator ...", flush=True)
        emulator = self.spawn(
            [
                "emulator",
                "--control-port",
                str(control_port),
                "--state-dir",
                str(self.state / "emulator"),
                "--bots",
                "1",
            ],
            "emulator.log",
        )
        wait_http(f"{control}/healthz", emulator, "the emulator")
        config = httpx.get(f"{control}/config").json()

        from .sample import cached_sample

        video = cached_sample(self.state / "media", progress=_progress)
        print(f"\r  sample video: {video} ({video.stat().st_size / 1e6:.1f} MB)" + " " * 20)

        port = free_port(self.port)
        public_url = f"http://127.0.0.1:{port}"
        env = {
            **inherited_env(),
            **server_env(config, self.state / "sessions", port),
            "LOG_JSON": "false",
        }
        print("starting tgstream serve ...", flush=True)
        server = self.spawn(["serve"], "server.log", env)
        wait_http(f"{public_url}/readyz", server, "tgstream serve")

        links = self._deliver(control, config, video, env)
        return {"control": control, "public_url": public_url, **links}

    def _deliver(
        self, control: str, config: dict[str, Any], video: Path, env: dict[str, str]
    ) -> dict[str, str]:
        """Send the video as a user on DC 4 and take the links from the bot's reply."""
        with video.open("rb") as fh:
            sent = httpx.post(
                f"{control}/users/{DEMO_USER}/documents",
                files={"file": (video.name, fh, "video/mp4")},
                data={"dc_id": "4", "kind": "video", "mime_type": "video/mp4"},
                timeout=120,
            )
        sent.raise_for_status()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            replies = httpx.get(f"{control}/users/{DEMO_USER}/messages").json()
            urls = [u for reply in replies for u in reply["urls"]]
            download = next((u for u in urls if "/dl/" in u), None)
            watch = next((u for u in urls if "/watch/" in u), None)
            if download and watch:
                return {"download": download, "watch": watch}
            time.sleep(0.2)
        raise RuntimeError("the bot did not reply within 30 s; see server.log")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tgstream demo", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=Path("state/demo"))
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--exit-after-start", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    demo = Demo(args.state_dir, args.port)
    try:
        info = demo.run()
        print()
        print(f"  download : {info['download']}")
        print(f"  watch    : {info['watch']}")
        print(f"  status   : {info['public_url']}/status")
        print(f"  metrics  : {info['public_url']}/metrics")
        print(f"  emulator : {info['control']}  (control API: /config /stats /faults)")
        print(f"  logs     : {args.state_dir}/server.log, {args.state_dir}/emulator.log")
        print("\nPress Ctrl-C to stop.", flush=True)
        print(json.dumps({"demo": info}), flush=True)
        if not args.exit_after_start:
            while all(p.poll() is None for p in demo.children):
                time.sleep(0.5)
            print("a child process exited; stopping", file=sys.stderr)
            return 1
        return 0
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"tgstream demo: {exc}", file=sys.stderr)
        return 1
    finally:
        demo.stop()
