"""The watch page in a real browser: Debian's Chromium, driven by Playwright's Python package.

The video travels the whole path (user → bot → bin channel → MTProto → HTTP Range) and the
browser's own media stack plays it and seeks in it, so this fails if any Range answer is off.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.e2e.conftest import new_server
from tests.e2e.test_bot_flow import replies_to
from tests.support.processes import ROOT, EmulatorProcess, ServerProcess
from tgbench.record import CHROMIUM_ARGS
from tgemu.demo.sample import make_sample_video

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "artifacts" / "tests"))
SECONDS = 20
USER = 52001


def _media_state(page: Any) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate(
        """() => { const v = document.querySelector('video');
        return {t: v.currentTime, d: v.duration, paused: v.paused, ready: v.readyState,
                error: v.error && v.error.code, seeking: v.seeking}; }"""
    )
    return state


def test_watch_page_plays_and_seeks_in_chromium(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    server = new_server(server_factory, emulator, tmp_path, "browser")
    video = make_sample_video(tmp_path / "clock.mp4", seconds=SECONDS, width=320, height=180)
    httpx.post(
        f"{emulator.url}/users/{USER}/documents",
        files={"file": ("clock.mp4", video.read_bytes())},
        data={"dc_id": "4", "kind": "video", "mime_type": "video/mp4"},
    ).raise_for_status()
    (reply,) = replies_to(emulator, USER, 1)
    watch = next(u for u in reply["urls"] if "/watch/" in u)
    assert watch.startswith(server.url)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            ranges: list[tuple[int, str]] = []
            page.on(
                "response",
                lambda r: (
                    ranges.append((r.status, r.headers.get("content-range", "")))
                    if "/dl/" in r.url
                    else None
                ),
            )
            page.goto(watch)
            page.wait_for_selector("video")
            # Muted playback is allowed without a user gesture in every browser.
            page.evaluate("() => { const v = document.querySelector('video'); v.muted = true; }")
            page.evaluate("() => document.querySelector('video').play()")
            page.wait_for_function(
                "() => document.querySelector('video').currentTime > 0.5", timeout=30_000
            )
            before = _media_state(page)
            assert before["error"] is None and before["d"] == pytest.approx(SECONDS, abs=0.5)

            middle = before["d"] / 2
            page.evaluate(f"() => {{ document.querySelector('video').currentTime = {middle}; }}")
            page.wait_for_function(
                f"() => {{ const v = document.querySelector('video');"
                f" return !v.seeking && v.currentTime > {middle + 1.0}; }}",
                timeout=30_000,
            )
            after = _media_state(page)
            page.screenshot(path=str(ARTIFACTS / "watch-after-seek.png"), full_page=True)
        finally:
            browser.close()

    assert after["error"] is None and not after["paused"]
    assert after["t"] > middle + 1.0
    # Chromium's media stack asks with Range from the first request on (all of a small file
    # may arrive before the seek, so a second, mid-file request is not guaranteed).
    assert ranges and all(status == 206 for status, _ in ranges), ranges
    assert all(cr.endswith(f"/{video.stat().st_size}") for _, cr in ranges), ranges
