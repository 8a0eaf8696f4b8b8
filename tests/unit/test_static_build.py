"""hls.js, the watch page's HLS player: pinned exactly in npm/package.json and its lock, built
by `make` (the venv's stamp waits for it) and by the Dockerfile, never committed, and served
by tgstream from its own /static (no CDN: the page's CSP would refuse it anyway)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.processes import ROOT
from tests.support.web_app import app_over, client_of, settings_for
from tgstream.service import Services
from tgstream.web import pages, watch

PACKAGE = json.loads((ROOT / "npm" / "package.json").read_text())
LOCK = json.loads((ROOT / "npm" / "package-lock.json").read_text())
BUILT = ROOT / "tgstream" / "web" / "static" / "hls.min.js"


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    built = Services.build(settings_for(tmp_path))
    try:
        yield built
    finally:
        await built.store.close()


def test_hls_js_is_pinned_exactly_and_locked_with_its_hash() -> None:
    version = PACKAGE["dependencies"]["hls.js"]
    assert re.fullmatch(r"1\.[0-9]+\.[0-9]+", version), "an exact 1.x version, no range"
    assert PACKAGE["dependencies"] == {"hls.js": version}
    assert LOCK["lockfileVersion"] == 3
    assert LOCK["packages"][""]["dependencies"] == PACKAGE["dependencies"]
    locked = LOCK["packages"]["node_modules/hls.js"]
    assert locked["version"] == version
    assert locked["integrity"].startswith("sha512-")
    # hls.js needs nothing else at run time: the lock holds it alone.
    assert set(LOCK["packages"]) == {"", "node_modules/hls.js"}


def test_the_built_file_is_made_by_make_and_never_committed() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "HLS_JS := tgstream/web/static/hls.min.js" in makefile
    stamp = next(line for line in makefile.splitlines() if line.startswith("$(STAMP):"))
    assert stamp.endswith("| $(HLS_JS)")  # `make .venv/.installed` builds it
    assert "npm ci --ignore-scripts" in makefile
    assert "node_modules/hls.js/dist/hls.min.js $@" in makefile
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "RUN npm ci --ignore-scripts" in dockerfile
    tracked = subprocess.run(
        ["git", "ls-files", "tgstream/web/static"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "tgstream/web/static/hls.min.js" not in tracked
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "tgstream/web/static/hls.min.js"], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0
    # What `make` built is the version pinned (hls.js writes its version into its build).
    assert f'"{PACKAGE["dependencies"]["hls.js"]}"' in BUILT.read_text()


async def test_tgstream_serves_hls_js_itself(services: Services) -> None:
    async with client_of(app_over(services)) as client:
        served = await client.get(watch.HLS_JS)
    assert served.status_code == 200
    assert served.headers["content-type"].split(";")[0] in (
        "text/javascript",
        "application/javascript",
    )
    assert served.content == BUILT.read_bytes()
    # The pages' CSP: scripts from tgstream only; media also from blob: (hls.js's Media Source).
    csp = pages.page_headers("'self'")["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "media-src 'self' blob:;" in csp
    assert "worker-src" not in csp  # hls.js runs without a worker
