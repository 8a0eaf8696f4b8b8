"""The watch page with a probe of the file: what it tells watch.js (the container's type, the
codec strings and names, the tracks, the direct and HLS addresses), that the player waits for
watch.js's choice instead of loading the file, and that every probed value (titles and
languages come from the file) is escaped.  Pure: watch.render with real probes."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from tests.support import media_files
from tests.support.memory_files import Failure, MemoryFiles, file_info
from tests.support.web_app import app_over, client_of, settings_for
from tgstream import links
from tgstream.media.probe import MediaProbe, Track
from tgstream.service import Services
from tgstream.telegram.errors import TelegramUnavailable
from tgstream.web import watch
from tgstream.web.page_probe import page_probe

DL = "/dl/7/film.mkv?exp=1700000000&sig=abc"
ABS = "https://files.example.org" + DL
HLS = "/hls/7/index.m3u8?exp=1700000000&sig=abc"
HOSTILE = "</script><script>alert(\"x\")</script> & 'q'"


def _probe(mime: str, *tracks: Track) -> MediaProbe:
    return MediaProbe(
        container="matroska,webm" if "matroska" in mime else "mov,mp4,m4a,3gp,3g2,mj2",
        mime=mime,
        duration=120.0,
        start_time=0.0,
        tracks=tracks,
        keyframes=(),
    )


H264 = Track(0, "video", "h264", "avc1.64001f", width=1280, height=720, default=True)
HEVC = Track(0, "video", "hevc", "hev1.1.6.L93.B0", width=1920, height=1080)
AC3 = Track(1, "audio", "ac3", "ac-3", language="eng", channels=6, default=True)
AAC = Track(2, "audio", "aac", "mp4a.40.2", language="fre", title="Commentary", channels=2)
SRT = Track(3, "subtitle", "subrip", None, language="eng")
PGS = Track(4, "subtitle", "hdmv_pgs_subtitle", None, language="ger")


def _media(page: str) -> dict[str, Any]:
    found = re.search(r'<div class="player" data-media="([^"]*)">', page)
    assert found, page
    media: dict[str, Any] = json.loads(unescape(found.group(1)))
    return media


def _render(
    probe: MediaProbe | None, mime: str = "video/x-matroska", name: str = "film.mkv"
) -> str:
    info = file_info(7, 200 * 2**20, mime_type=mime, file_name=name)
    return watch.render(info, DL, ABS, probe=probe, hls_url=HLS)


def test_without_a_probe_the_player_plays_the_file_as_before() -> None:
    page = _render(None)
    assert f'src="{DL.replace("&", "&amp;")}"' in page and "data-media" not in page
    assert "playback-note" not in page and 'id="tracks"' not in page
    assert watch.render(file_info(7, 10), DL, ABS) == watch.render(file_info(7, 10), DL, ABS, None)


def test_a_probed_film_tells_the_page_its_codecs_and_both_addresses() -> None:
    page = _render(_probe("video/x-matroska", H264, AC3, AAC, SRT, PGS))
    media = _media(page)
    assert media == {
        "mime": "video/x-matroska",
        "video": {"codec": "h264", "name": "H.264", "type": "avc1.64001f"},
        "audio": [
            {"codec": "ac3", "name": "AC-3", "type": "ac-3", "label": "eng", "channels": "5.1"},
            {
                "codec": "aac",
                "name": "AAC",
                "type": "mp4a.40.2",
                "label": "Commentary",
                "channels": "stereo",
            },
        ],
        # Text subtitles only: the HLS stream offers them as WebVTT, pictures it cannot.
        "subtitles": [{"label": "eng", "language": "eng"}],
        "src": DL,
        "hls": HLS,
        "hls_js": "/static/hls.min.js",
    }
    # The player has no source until watch.js chose one (no wasted range request, and no
    # browser playing the picture of an MKV without its AC-3 sound).
    player = re.search(r"<video [^>]*>", page)
    assert player and "src=" not in player.group(0)
    assert '<p class="playback-note" id="playback-note" role="status" hidden></p>' in page
    assert '<div class="tracks" id="tracks" hidden></div>' in page
    # The player buttons stay: they are what the note points to.
    for label, url in watch.player_links(ABS, "film.mkv", "video/x-matroska"):
        assert f'href="{url.replace("&", "&amp;")}" rel="noopener">{label}</a>' in page
    assert page.count("<script") == 1  # watch.js alone; hls.js only when it is needed


def test_the_default_audio_track_comes_first() -> None:
    second_default = Track(2, "audio", "aac", "mp4a.40.2", language="fre", default=True)
    first = Track(1, "audio", "ac3", "ac-3", language="eng")
    media = _media(_render(_probe("video/x-matroska", H264, first, second_default)))
    assert [a["label"] for a in media["audio"]] == ["fre", "eng"]


def test_a_file_sent_without_a_media_type_plays_as_what_the_probe_found() -> None:
    video = _render(_probe("video/mp4", H264, AAC), mime="application/octet-stream")
    assert "<video " in video and "vlc://" in video
    audio = _render(_probe("audio/mp4", AAC), mime="application/octet-stream", name="a.m4a")
    assert "<audio " in audio and "<video" not in audio and "vlc://" in audio
    assert _media(audio)["video"] is None


def test_a_probe_without_audio_or_video_keeps_the_declared_view() -> None:
    page = _render(_probe("video/x-matroska", SRT), mime="image/png", name="p.png")
    assert "<img " in page and "data-media" not in page


def test_hevc_is_named_for_the_note() -> None:
    media = _media(_render(_probe("video/x-matroska", HEVC, AAC)))
    assert media["video"] == {"codec": "hevc", "name": "HEVC", "type": "hev1.1.6.L93.B0"}


@pytest.mark.parametrize(
    ("codec", "name"),
    [
        ("h264", "H.264"),
        ("hevc", "HEVC"),
        ("av1", "AV1"),
        ("vp9", "VP9"),
        ("mpeg4", "MPEG-4 Part 2"),
        ("ac3", "AC-3"),
        ("eac3", "E-AC-3"),
        ("dts", "DTS"),
        ("truehd", "TrueHD"),
        ("opus", "Opus"),
        ("subrip", "SRT"),
        ("cinepak", "CINEPAK"),
        ("", "unknown"),
    ],
)
def test_codec_names(codec: str, name: str) -> None:
    assert watch.codec_name(codec) == name


def test_probed_values_are_escaped() -> None:
    hostile_audio = Track(1, "audio", HOSTILE, HOSTILE, language=HOSTILE, title=HOSTILE)
    hostile_sub = Track(2, "subtitle", "ass", None, language=HOSTILE, title=HOSTILE)
    page = _render(_probe(HOSTILE, H264, hostile_audio, hostile_sub))
    assert "<script>alert" not in page and "</script><script>" not in page
    assert page.count("<script") == 1
    media = _media(page)  # and the page still carries them intact
    assert media["mime"] == HOSTILE
    assert media["audio"][0]["type"] == HOSTILE and media["audio"][0]["label"] == HOSTILE
    assert media["subtitles"] == [{"label": HOSTILE, "language": HOSTILE}]


def test_a_long_title_is_cut_for_the_menu() -> None:
    long = Track(1, "audio", "aac", "mp4a.40.2", title="x" * 500)
    media = _media(_render(_probe("video/mp4", H264, long)))
    assert media["audio"][0]["label"] == "x" * 80


# --- the watch route: the probe made through the app's own files ------------------------


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    built = Services.build(settings_for(tmp_path, public_url="https://files.example.org"))
    try:
        yield built
    finally:
        built.media.close()
        await built.store.close()


async def test_the_watch_route_gives_the_page_its_probe_and_hls_address(
    services: Services, tmp_path: Path
) -> None:
    film = media_files.mkv_h264_ac3(tmp_path / "film.mkv", seconds=4)
    files = MemoryFiles()
    data = film.path.read_bytes()
    files.add(file_info(1, len(data), "video/x-matroska", "film.mkv"), data)
    junk = b"\x1a\x45\xdf\xa3 not really matroska" * 100
    files.add(file_info(2, len(junk), "video/x-matroska", "broken.mkv"), junk)
    files.add(file_info(3, 10, "application/zip", "a.zip"), b"0123456789")
    async with client_of(app_over(services, files)) as client:
        film_page = await client.get(links.watch_path(1, "film.mkv", services.secret, 2**33))
        broken = await client.get(links.watch_path(2, "broken.mkv", services.secret))
        other = await client.get(links.watch_path(3, "a.zip", services.secret))
    assert film_page.status_code == broken.status_code == other.status_code == 200
    media = _media(film_page.text)
    query = f"exp={2**33}&sig={links.sign_expiring(1, 2**33, services.secret)}"
    # Both addresses signed as the page's own link, ending when it ends.
    assert media["src"] == f"/dl/1/film.mkv?{query}"
    assert media["hls"] == f"/hls/1/index.m3u8?{query}"
    assert media["mime"] == "video/x-matroska"
    assert media["video"]["codec"] == "h264" and media["video"]["type"].startswith("avc1.")
    assert [(a["codec"], a["type"], a["channels"]) for a in media["audio"]] == [
        ("ac3", "ac-3", "5.1")
    ]
    # A file PyAV cannot read, and one that is no media, get the page they always had.
    assert "data-media" not in broken.text and 'src="/dl/2/broken.mkv?' in broken.text
    assert "data-media" not in other.text and 'class="file-card"' in other.text


# --- the page's probe: best effort, bounded ---------------------------------------------


async def test_a_slow_first_probe_leaves_the_plain_page_and_serves_the_next_view(
    services: Services, tmp_path: Path
) -> None:
    film = media_files.mkv_h264_ac3(tmp_path / "film.mkv", seconds=4)
    data = film.path.read_bytes()
    files = MemoryFiles(first_piece_delay=0.3)
    info = files.add(file_info(1, len(data), "video/x-matroska", "film.mkv"), data)
    probes = services.media.over(files).probes
    started = asyncio.get_running_loop().time()
    assert await page_probe(probes, info, wait=0.1) is None
    assert asyncio.get_running_loop().time() - started < 0.3 + 0.2  # it did not wait for it
    # The probe went on without the page; the next view gets it without reading again.
    deadline = started + 30
    while (probe := await page_probe(probes, info, wait=0.05)) is None:
        assert asyncio.get_running_loop().time() < deadline, "the probe never finished"
    reads = len(files.ranges)
    assert probe.video() is not None and probe.video().codec == "h264"  # type: ignore[union-attr]
    assert await page_probe(probes, info, wait=0.05) == probe
    assert len(files.ranges) == reads


async def test_a_probe_telegram_fails_leaves_the_plain_page(
    services: Services, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    film = media_files.mkv_h264_ac3(tmp_path / "film.mkv", seconds=4)
    data = film.path.read_bytes()
    files = MemoryFiles(failure=Failure(TelegramUnavailable("DC 4 is down")))
    info = files.add(file_info(1, len(data), "video/x-matroska", "film.mkv"), data)
    with caplog.at_level(logging.WARNING, logger="tgstream.web.page_probe"):
        assert await page_probe(services.media.over(files).probes, info, wait=10) is None
        await asyncio.sleep(0)  # the probe task's own report
    assert "DC 4 is down" in caplog.text
    async with client_of(app_over(services, files)) as client:
        page = await client.get(links.watch_path(1, "film.mkv", services.secret))
    assert page.status_code == 200 and "data-media" not in page.text
    # Telegram's failure is not the file's: once Telegram answers, the page has its probe.
    files.failure = None
    async with client_of(app_over(services, files)) as client:
        page = await client.get(links.watch_path(1, "film.mkv", services.secret))
    assert _media(page.text)["video"]["codec"] == "h264"
