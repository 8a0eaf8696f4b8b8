"""`tgstream demo` from the command line: links printed within 60 s, and they work."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.processes import ROOT, free_port


def test_demo_prints_working_links_and_stops_cleanly(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tgstream",
            "demo",
            "--state-dir",
            str(tmp_path / "demo"),
            "--port",
            str(free_port()),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started = time.monotonic()
    info = None
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith('{"demo"'):
                info = json.loads(line)["demo"]
                break
        assert info is not None, "".join(lines)
        assert time.monotonic() - started < 60
        video = httpx.get(info["download"], timeout=60)
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        assert video.content[4:8] == b"ftyp" and len(video.content) > 1_000_000
        page = httpx.get(info["watch"])
        assert page.status_code == 200 and "<video" in page.text
        assert httpx.get(info["public_url"] + "/metrics").status_code == 200
        assert httpx.get(info["control"] + "/stats").json()["dcs"]["4"]["getfile_requests"] > 0
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
