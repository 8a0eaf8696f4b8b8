"""Posters, link previews and player links end to end: a video posted to the bin channel
with a thumbnail (as Telegram's apps send one) gets a watch page whose poster is that
thumbnail byte for byte, fetched once from Telegram (on the document's DC, through the
downloader) and kept apart from the document's parts; Open Graph tags with absolute URLs;
an M3U playlist whose entry plays; and a file without a thumbnail says so."""

from __future__ import annotations

import hashlib
import os
import re
from html import unescape
from pathlib import Path

import httpx

from tests.e2e.conftest import new_server
from tests.support.jpegs import make_jpeg
from tests.support.processes import SECRET, EmulatorProcess, ServerProcess
from tgstream import links

TIMEOUT = 30


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def metas(page: str) -> dict[str, str]:
    found = re.findall(r'<meta (?:property|name)="([^"]+)" content="([^"]*)">', page)
    return {name: unescape(content) for name, content in found}


def test_poster_previews_and_playlist(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data = os.urandom(3 * (1 << 20) + 4321)
    thumb = make_jpeg(320, 180, seed=7)
    video = emulator.post_to_channel(
        data, dc=4, name="holiday.mp4", kind="video", mime_type="video/mp4", thumb=thumb
    )["message_id"]
    bare = emulator.post_to_channel(
        os.urandom(9000), dc=4, name="bare.mkv", kind="video", mime_type="video/x-matroska"
    )["message_id"]
    server = new_server(server_factory, emulator, tmp_path, "thumbs")
    emulator.reset()

    page = httpx.get(server.url + links.watch_path(video, "holiday.mp4", SECRET), timeout=TIMEOUT)
    assert page.status_code == 200
    poster = re.search(r'<video [^>]*poster="([^"]+)"', page.text)
    assert poster is not None
    poster_path = unescape(poster.group(1))
    assert poster_path == links.thumb_path(video, SECRET)

    # (The page may have probed the document's first parts: counted from here.)
    before = emulator.dc_stats(4)
    image = httpx.get(server.url + poster_path, timeout=TIMEOUT)
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert sha(image.content) == sha(thumb)  # byte for byte what Telegram keeps
    dc4 = emulator.dc_stats(4)
    assert dc4["getfile_thumb_requests"] == before["getfile_thumb_requests"] + 1 == 1
    # The thumbnail, none of the document.
    assert dc4["getfile_bytes"] - before["getfile_bytes"] == len(thumb)

    # Served again from the cache, and revalidated without a body.
    again = httpx.get(server.url + poster_path, timeout=TIMEOUT)
    assert again.content == image.content
    etag = image.headers["etag"]
    revalidated = httpx.get(
        server.url + poster_path, headers={"If-None-Match": etag}, timeout=TIMEOUT
    )
    assert revalidated.status_code == 304
    forged = httpx.get(server.url + poster_path.replace("sig=", "sig=A"), timeout=TIMEOUT)
    assert forged.status_code == 403
    assert emulator.dc_stats(4)["getfile_thumb_requests"] == 1

    # The document's own bytes are untouched by the thumbnail sharing its media id.
    dl = httpx.get(server.link(video, "holiday.mp4"), timeout=TIMEOUT)
    assert dl.status_code == 200 and sha(dl.content) == sha(data)
    first = httpx.get(server.link(video), headers={"Range": "bytes=0-99"}, timeout=TIMEOUT)
    assert first.content == data[:100]

    tags = metas(page.text)
    assert tags["og:title"] == "holiday.mp4" and tags["og:type"] == "video.other"
    assert tags["og:image"] == server.url + poster_path == tags["twitter:image"]
    assert tags["og:video"] == server.link(video, "holiday.mp4")
    assert tags["og:url"] == server.url + links.watch_path(video, "holiday.mp4", SECRET)
    assert tags["og:description"].startswith("3.0 MiB")
    assert tags["twitter:card"] == "summary_large_image"

    m3u = re.search(r'id="m3u-link" href="([^"]+)"', page.text)
    assert m3u is not None
    playlist = httpx.get(unescape(m3u.group(1)), timeout=TIMEOUT)
    assert playlist.status_code == 200
    assert playlist.headers["content-type"] == "audio/x-mpegurl"
    entry = server.link(video, "holiday.mp4")
    assert playlist.text == f"#EXTM3U\n#EXTINF:-1,holiday.mp4\n{entry}\n"
    hls = re.search(r'id="hls-link" href="([^"]+)"', page.text)
    assert hls is not None
    assert unescape(hls.group(1)) == server.url + links.hls_path(video, SECRET)

    # A file without a thumbnail: no poster, no picture in the preview, a clear 404.
    plain = httpx.get(server.url + links.watch_path(bare, "bare.mkv", SECRET), timeout=TIMEOUT)
    assert plain.status_code == 200 and "poster=" not in plain.text
    plain_tags = metas(plain.text)
    assert "og:image" not in plain_tags and "og:video" not in plain_tags
    missing = httpx.get(server.url + links.thumb_path(bare, SECRET), timeout=TIMEOUT)
    assert missing.status_code == 404
    assert missing.json() == {"error": "this file has no thumbnail"}


def calls(emu: EmulatorProcess, method: str) -> int:
    return int(emu.stats()["methods"].get(method, 0))


def test_a_thumbnail_under_the_failure_policy(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    """A lost answer is retried; a thumbnail Telegram refuses (after the message is checked
    again) is a clear 404 that leaves the document itself alone."""
    data = os.urandom(200_000)
    thumb = make_jpeg(200, 112, seed=9)
    posted = emulator.post_to_channel(
        data, dc=4, name="trip.mp4", kind="video", mime_type="video/mp4", thumb=thumb
    )["message_id"]
    refused = emulator.post_to_channel(
        data, dc=4, name="other.mp4", kind="video", mime_type="video/mp4", thumb=thumb
    )["message_id"]
    server = new_server(server_factory, emulator, tmp_path, "thumb-policy")
    for message_id in (posted, refused):  # resolved, so only the thumbnails are left
        page = server.url + links.watch_path(message_id, "x.mp4", SECRET)
        assert httpx.get(page, timeout=TIMEOUT).status_code == 200

    emulator.faults(
        rpc_errors=[{"method": "upload.getFile", "dc": 4, "code": -503, "message": "Timeout"}]
    )
    image = httpx.get(server.url + links.thumb_path(posted, SECRET), timeout=TIMEOUT)
    assert image.status_code == 200 and sha(image.content) == sha(thumb)
    assert emulator.faults()["rpc_errors"] == []  # the lost answer was met, then retried

    lookups = calls(emulator, "channels.getMessages")
    emulator.faults(
        rpc_errors=[
            {
                "method": "upload.getFile",
                "dc": 4,
                "code": 400,
                "message": "LOCATION_INVALID",
                "count": 2,
            }
        ]
    )
    missing = httpx.get(server.url + links.thumb_path(refused, SECRET), timeout=TIMEOUT)
    assert missing.status_code == 404
    assert missing.json() == {"error": "this file has no thumbnail"}
    assert emulator.faults()["rpc_errors"] == []
    assert calls(emulator, "channels.getMessages") == lookups + 1  # checked again, once
    # The document was not forgotten with its thumbnail: served without a new lookup.
    whole = httpx.get(server.link(refused, "other.mp4"), timeout=TIMEOUT)
    assert whole.status_code == 200 and sha(whole.content) == sha(data)
    assert calls(emulator, "channels.getMessages") == lookups + 1
    assert "Traceback" not in server.logs()


def test_a_browser_shows_the_poster(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    """Headless Chromium loads the watch page's poster from /thumb under the page's own CSP
    (img-src 'self'); the screenshot is kept for people to look at."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
    from tgemu.demo.sample import make_sample_video
    from tgemu.demo.thumbnail import make_thumbnail

    # A real video and the thumbnail made from it, as a phone sends them: the poster shows
    # the sample's clock at 00:02.
    video = make_sample_video(tmp_path / "poster.mp4", seconds=4, width=640, height=360, fps=12)
    thumb = make_thumbnail(video, at_seconds=2.0)
    message_id = emulator.post_to_channel(
        video, dc=4, name="poster.mp4", kind="video", mime_type="video/mp4", thumb=thumb
    )["message_id"]
    server = new_server(server_factory, emulator, tmp_path, "thumb-browser")
    shots = ARTIFACTS / "thumbs"
    shots.mkdir(parents=True, exist_ok=True)
    loaded: list[tuple[int, bytes]] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 720, "height": 720})
            page.on(
                "response",
                lambda r: loaded.append((r.status, r.body())) if "/thumb/" in r.url else None,
            )
            page.goto(server.url + links.watch_path(message_id, "poster.mp4", SECRET))
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(shots / "watch-poster.png"))
            links_shown = page.inner_text(".players:last-of-type")
        finally:
            browser.close()
    print(f"screenshot in {shots}")
    assert loaded and loaded[0][0] == 200 and sha(loaded[0][1]) == sha(thumb)
    assert "Playlist (M3U)" in links_shown and "HLS stream" in links_shown


def test_a_real_video_links_a_working_hls_stream_and_playlist(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    """The page's player links for a video PyAV made, with the thumbnail made from it: the
    HLS link answers its master playlist, the M3U entry the file itself."""
    from tgemu.demo.sample import make_sample_video
    from tgemu.demo.thumbnail import make_thumbnail

    video = make_sample_video(tmp_path / "clip.mp4", seconds=4, width=320, height=180, fps=12)
    thumb = make_thumbnail(video, at_seconds=1.0)
    message_id = emulator.post_to_channel(
        video, dc=4, name="clip.mp4", kind="video", mime_type="video/mp4", thumb=thumb
    )["message_id"]
    server = new_server(server_factory, emulator, tmp_path, "thumb-hls")
    page = httpx.get(server.url + links.watch_path(message_id, "clip.mp4", SECRET), timeout=60)
    assert page.status_code == 200
    hls = re.search(r'id="hls-link" href="([^"]+)"', page.text)
    m3u = re.search(r'id="m3u-link" href="([^"]+)"', page.text)
    assert hls is not None and m3u is not None
    master = httpx.get(unescape(hls.group(1)), timeout=60)
    assert master.status_code == 200, master.text
    assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert master.text.startswith("#EXTM3U")
    entry = httpx.get(unescape(m3u.group(1)), timeout=30).text.splitlines()[2]
    assert sha(httpx.get(entry, timeout=60).content) == sha(video.read_bytes())
    poster = httpx.get(server.url + links.thumb_path(message_id, SECRET), timeout=30)
    assert poster.content == thumb
