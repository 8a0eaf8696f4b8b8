"""The watch page picks what plays, in a real browser (Debian's Chromium, as test_browser.py
drives it): an MKV with AC-3 sound plays through HLS with its sound decoded and seeks to the
middle within 2 s at 80 ms RTT; an MP4 the browser plays is played directly (no /hls request
at all); two audio tracks and an SRT track become the page's menus and the player's text
track; AC-3 sound alone plays through HLS in an audio player; HEVC, which this Chromium
cannot decode, gets the note and the player buttons.

Each file goes the whole way: a user sends it to the bot over MTProto, the bot's reply gives
the watch link, the server probes the file through its own range path, and the page's
hls.js (built from npm by `make`) reads the HLS stream the server makes."""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.conftest import new_server
from tests.e2e.test_bot_flow import replies_to
from tests.e2e.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.support import media_files
from tests.support.processes import ROOT, EmulatorProcess, ServerProcess
from tgemu.demo.sample import make_sample_video

DC = 4
RTT_MS = 80  # the emulator's latency on the file's DC, as tgbench shapes it
HLS_JS = ROOT / "tgstream" / "web" / "static" / "hls.min.js"
CLOCK_SECONDS = 60


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    assert HLS_JS.is_file(), "hls.js is built by `make .venv/.installed` (npm/package-lock.json)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def clock_mkv(path: Path, seconds: int = CLOCK_SECONDS) -> Path:
    """The demo's clock video (every frame shows its time, so a screenshot after a seek shows
    where it landed) as an MKV: the H.264 copied, the AAC sound made AC-3 5.1, what a browser
    cannot play as it is."""
    mp4 = make_sample_video(path.with_suffix(".mp4"), seconds=seconds, width=480, height=270)
    with av.open(str(mp4)) as source, av.open(str(path), "w", format="matroska") as out:
        video_in, audio_in = source.streams.video[0], source.streams.audio[0]
        video = out.add_stream_from_template(video_in)
        audio = out.add_stream("ac3", rate=48_000)
        audio.layout = "5.1"
        audio.metadata["language"] = "eng"
        resampler = AudioResampler(format="fltp", layout="5.1", rate=48_000)
        for packet in source.demux(video_in, audio_in):
            if packet.stream is video_in:
                if packet.dts is not None:
                    packet.stream = video
                    out.mux(packet)
                continue
            for frame in packet.decode():
                for made in resampler.resample(frame):  # type: ignore[arg-type]
                    made.time_base = Fraction(1, 48_000)
                    out.mux(audio.encode(made))
        for made in resampler.resample(None):
            out.mux(audio.encode(made))
        out.mux(audio.encode(None))
    return path


def ac3_song(path: Path, seconds: int = 20) -> Path:
    """Sound alone: an MKA of AC-3 5.1 (a tone), which no browser plays as it is."""
    rate, block = 48_000, 1536
    tone = array("f", (0.2 * math.sin(2 * math.pi * 12 * n / block) for n in range(block)))
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("ac3", rate=rate)
        stream.layout = "5.1"
        for start in range(0, rate * seconds, block):
            frame = AudioFrame(format="fltp", layout="5.1", samples=block)
            for plane in frame.planes:
                plane.update(tone.tobytes() + bytes(plane.buffer_size - block * 4))
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def watch_link(emu: EmulatorProcess, user: int, path: Path, mime: str) -> str:
    """Send `path` to the bot as `user`; the watch link of its reply."""
    httpx.post(
        f"{emu.url}/users/{user}/documents",
        files={"file": (path.name, path.read_bytes())},
        data={"dc_id": str(DC), "kind": "video", "mime_type": mime},
        timeout=60,
    ).raise_for_status()
    (reply,) = replies_to(emu, user, 1)
    link: str = next(u for u in reply["urls"] if "/watch/" in u)
    return link


def open_page(browser: Browser, link: str, requests: list[str]) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("request", lambda r: requests.append(r.url))
    page.goto(link)
    # Waits for watch.js's choice (a page without a probe has none).
    page.wait_for_selector(".player[data-playback]", state="attached", timeout=30_000)
    return page


def playback(page: Page) -> str:
    mode: str = page.get_attribute(".player", "data-playback") or ""
    return mode


def media_state(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate(
        """() => { const v = document.querySelector('video');
        return {t: v.currentTime, d: v.duration, paused: v.paused, ready: v.readyState,
                error: v.error && v.error.code, seeking: v.seeking,
                audio: v.webkitAudioDecodedByteCount, video: v.webkitVideoDecodedByteCount}; }"""
    )
    return state


def start_playing(page: Page) -> None:
    # Muted playback needs no user gesture; the sound is still decoded (counted below).
    page.evaluate("() => { const v = document.querySelector('video'); v.muted = true; v.play(); }")
    page.wait_for_function(
        "() => document.querySelector('video').currentTime > 0.5", timeout=60_000
    )


def test_mkv_with_ac3_plays_through_hls_and_seeks_within_two_seconds(
    emulator: EmulatorProcess,
    server_factory: list[ServerProcess],
    tmp_path: Path,
    chromium: Browser,
) -> None:
    new_server(server_factory, emulator, tmp_path, "mkv")
    film = clock_mkv(tmp_path / "clock film.mkv")
    link = watch_link(emulator, 52101, film, "video/x-matroska")
    emulator.faults(dcs={str(DC): {"latency_ms": RTT_MS}})
    requests: list[str] = []
    page = open_page(chromium, link, requests)
    try:
        assert playback(page) == "hls"
        start_playing(page)
        before = media_state(page)
        assert before["error"] is None
        assert before["d"] == pytest.approx(CLOCK_SECONDS, abs=1.0)
        # The AC-3 track reached the browser as AAC it decodes: sound, not a silent picture.
        page.wait_for_function(
            "() => document.querySelector('video').webkitAudioDecodedByteCount > 0",
            timeout=30_000,
        )

        middle = before["d"] / 2
        seek_ms: float = page.evaluate(
            """(target) => new Promise((done) => {
                 const v = document.querySelector('video');
                 const started = performance.now();
                 const check = () => {
                   if (!v.seeking && !v.paused && v.readyState >= 3
                       && v.currentTime > target + 0.2) {
                     done(performance.now() - started);
                   } else { requestAnimationFrame(check); }
                 };
                 v.currentTime = target;
                 requestAnimationFrame(check);
               })""",
            middle,
        )
        after = media_state(page)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "watch-mkv-after-seek.png"), full_page=True)
        page.locator("video").screenshot(path=str(ARTIFACTS / "watch-mkv-after-seek-video.png"))
    finally:
        page.close()

    assert seek_ms < 2000, f"the seek to {middle:.1f} s took {seek_ms:.0f} ms"
    assert after["error"] is None and not after["paused"]
    assert middle < after["t"] < middle + 5
    assert after["audio"] > before["audio"]
    hls = [u for u in requests if "/hls/" in u]
    assert any(u.split("?")[0].endswith("index.m3u8") for u in hls), hls
    # The file itself was never handed to the player.
    assert not [u for u in requests if "/dl/" in u]


def test_mp4_the_browser_plays_is_played_directly(
    emulator: EmulatorProcess,
    server_factory: list[ServerProcess],
    tmp_path: Path,
    chromium: Browser,
) -> None:
    new_server(server_factory, emulator, tmp_path, "mp4")
    clip = media_files.mp4_h264_aac(tmp_path / "clip.mp4")
    link = watch_link(emulator, 52102, clip.path, "video/mp4")
    requests: list[str] = []
    page = open_page(chromium, link, requests)
    try:
        assert playback(page) == "direct"
        start_playing(page)
        state = media_state(page)
    finally:
        page.close()
    assert state["error"] is None and state["d"] == pytest.approx(clip.duration, abs=0.5)
    assert [u for u in requests if "/dl/" in u]
    assert not [u for u in requests if "/hls/" in u or "hls.min.js" in u], requests


def test_two_audio_tracks_and_subtitles_are_offered(
    emulator: EmulatorProcess,
    server_factory: list[ServerProcess],
    tmp_path: Path,
    chromium: Browser,
) -> None:
    new_server(server_factory, emulator, tmp_path, "tracks")
    film = media_files.mkv_two_audio_srt(tmp_path / "two.mkv")
    link = watch_link(emulator, 52103, film.path, "video/x-matroska")
    requests: list[str] = []
    page = open_page(chromium, link, requests)
    try:
        assert playback(page) == "hls"
        page.wait_for_selector("#audio-track", timeout=30_000)
        page.wait_for_selector("#subtitle-track", timeout=30_000)
        audio = page.eval_on_selector_all("#audio-track option", "os => os.map(o => o.text)")
        subtitles = page.eval_on_selector_all("#subtitle-track option", "os => os.map(o => o.text)")
        start_playing(page)
        # The second audio track: its own playlist is asked for, and playback goes on.
        playlists_before = {u.split("?")[0] for u in requests if ".m3u8" in u}
        page.select_option("#audio-track", "1")
        page.wait_for_function(
            "() => { const v = document.querySelector('video');"
            " return v.currentTime > 1.5 && !v.paused; }",
            timeout=30_000,
        )
        # The subtitles on: their cues reach the player's text track.
        page.select_option("#subtitle-track", "0")
        cues = page.wait_for_function(
            """() => { const tracks = [...document.querySelector('video').textTracks];
                 const on = tracks.find(t => t.mode === 'showing');
                 return on && on.cues && on.cues.length > 0
                   && [...on.cues].map(c => c.text).join('|'); }""",
            timeout=30_000,
        ).json_value()
        playlists_after = {u.split("?")[0] for u in requests if ".m3u8" in u}
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "watch-two-audio-subtitles.png"), full_page=True)
    finally:
        page.close()
    assert len(audio) == 2 and "English 5.1" in audio[0], audio
    assert subtitles[0] == "Off" and len(subtitles) == 2 and "English" in subtitles[1]
    assert playlists_after - playlists_before, (playlists_before, playlists_after)
    assert "Hello, world" in cues
    assert any(u.split("?")[0].endswith(".vtt") for u in requests)


def test_ac3_sound_alone_plays_through_hls_in_an_audio_player(
    emulator: EmulatorProcess,
    server_factory: list[ServerProcess],
    tmp_path: Path,
    chromium: Browser,
) -> None:
    new_server(server_factory, emulator, tmp_path, "song")
    song = ac3_song(tmp_path / "song.mka")
    link = watch_link(emulator, 52105, song, "audio/x-matroska")
    requests: list[str] = []
    page = open_page(chromium, link, requests)
    try:
        assert playback(page) == "hls"
        page.evaluate(
            "() => { const a = document.querySelector('audio'); a.muted = true; a.play(); }"
        )
        page.wait_for_function(
            "() => { const a = document.querySelector('audio');"
            " return a.currentTime > 1.0 && a.webkitAudioDecodedByteCount > 0; }",
            timeout=60_000,
        )
        duration = page.evaluate("() => document.querySelector('audio').duration")
        has_video = page.evaluate("() => !!document.querySelector('video')")
    finally:
        page.close()
    assert duration == pytest.approx(20, abs=0.5) and not has_video
    segments = [u.split("?")[0] for u in requests if u.split("?")[0].endswith(".ts")]
    assert segments and not [u for u in segments if "/v/" in u], segments  # sound only


def test_hevc_says_why_and_offers_the_players(
    emulator: EmulatorProcess,
    server_factory: list[ServerProcess],
    tmp_path: Path,
    chromium: Browser,
) -> None:
    new_server(server_factory, emulator, tmp_path, "hevc")
    film = media_files.mkv_hevc_aac(tmp_path / "hevc.mkv")
    link = watch_link(emulator, 52104, film.path, "video/x-matroska")
    requests: list[str] = []
    page = open_page(chromium, link, requests)
    try:
        assert playback(page) == "none"
        note = page.locator("#playback-note")
        assert note.is_visible()
        text = note.inner_text()
        assert not page.locator("video").is_visible()
        buttons = page.eval_on_selector_all(".players a", "as => as.map(a => a.text)")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "watch-hevc-note.png"), full_page=True)
    finally:
        page.close()
    assert text == "This browser cannot decode HEVC video: open it in a player, or download it."
    # The players, and the playlist links a player opens (VLC and mpv decode HEVC).
    assert buttons == ["VLC", "mpv", "MX Player", "IINA", "Playlist (M3U)", "HLS stream"]
    # Nothing was fetched for a player that cannot play: no file, no HLS, no hls.js.
    assert not [u for u in requests if "/dl/" in u or "/hls/" in u or "hls.min.js" in u]
