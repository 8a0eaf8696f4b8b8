"""`tgstream demo` from the command line: links printed within 60 s, and they work; it says
who the demo user is and how to send your own file, and that command works too."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from html import unescape
from pathlib import Path

import httpx

from tests.support.processes import ROOT, free_port
from tgemu.media import jpeg_dimensions


def test_demo_prints_working_links_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    public = f"http://localhost:{port}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tgstream",
            "demo",
            "--state-dir",
            str(tmp_path / "demo"),
            "--port",
            str(port),
            "--host",
            "0.0.0.0",
            "--public-url",
            public + "/",
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
        page = httpx.get(info["watch"], timeout=30)
        assert page.status_code == 200 and "<video" in page.text
        # The sample went with a thumbnail (PyAV's): the page's poster and preview picture.
        poster = re.search(r'<video [^>]*poster="([^"]+)"', page.text)
        assert poster is not None and f'content="{public}/thumb/' in page.text
        image = httpx.get(info["public_url"] + unescape(poster.group(1)), timeout=30)
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        assert image.content[:2] == b"\xff\xd8" and jpeg_dimensions(image.content) == (320, 180)
        assert httpx.get(info["public_url"] + "/metrics").status_code == 200
        assert httpx.get(info["control"] + "/stats").json()["dcs"]["4"]["getfile_requests"] > 0

        # The links are built on --public-url, the server listens beyond loopback.
        assert info["download"].startswith(public + "/dl/")
        assert info["watch"].startswith(public + "/watch/")
        assert info["public_url"] == public and info["reused"] == "false"
        text = "".join(lines)
        assert "The links of this run:" in text and info["download"] in text
        assert f"id {info['user_id']}" in text and info["user_id"] == "100001"
        assert f"  {info['send']}\n" in text

        # The command it prints sends a file of one's own and prints its links.
        mine = tmp_path / "my clip.bin"
        data = os.urandom(300_000)
        mine.write_bytes(data)
        command = info["send"].replace("YOUR_FILE", shlex.quote(str(mine)))
        sent = subprocess.run(
            command, shell=True, cwd=ROOT, capture_output=True, text=True, timeout=90
        )
        assert sent.returncode == 0, sent.stderr
        urls = sent.stdout.split()
        (download,) = [u for u in urls if "/dl/" in u]
        assert any("/watch/" in u for u in urls) and download.startswith(public + "/dl/")
        got = httpx.get(download, timeout=60)
        assert got.status_code == 200
        assert hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0

    # Run again on the same state: the sample is in the bin channel already, not sent again,
    # and the links are the same.
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "tgstream",
            "demo",
            "--state-dir",
            str(tmp_path / "demo"),
            "--port",
            str(port),
            "--public-url",
            public,
            "--exit-after-start",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    second = json.loads(next(x for x in again.stdout.splitlines() if x.startswith('{"demo"')))
    assert second["demo"]["reused"] == "true"
    assert "already in the bin channel" in again.stdout
    assert (second["demo"]["download"], second["demo"]["watch"]) == (
        info["download"],
        info["watch"],
    )
