"""PyAV (some 26 MB of FFmpeg's libraries) is loaded by the first probe or segment, not by
starting the server: a server whose viewers play files directly never holds it."""

from __future__ import annotations

import subprocess
import sys


def test_the_server_starts_without_pyav() -> None:
    code = (
        "import sys, tgstream.server, tgstream.service, tgstream.web.app, tgstream.cli\n"
        "print(sorted(m for m in sys.modules if m == 'av' or m.startswith('av.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
