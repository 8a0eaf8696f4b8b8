"""Thumbnails, link previews and player links in-process, over an in-memory FileSource: the
signed thumbnail route (bytes, validators, 403/410/404), the watch page's poster and Open
Graph / Twitter tags (absolute URLs from PUBLIC_URL), and the M3U playlist, exact."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import time
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import httpx
import pytest

from tests.support.memory_files import MemoryFiles, file_info
from tests.support.web_app import app_over, client_of, settings_for
from tgstream import links
from tgstream.service import Services
from tgstream.store import FileInfo
from tgstream.streaming.disk_tier import disk_key
from tgstream.streaming.source import thumbnail_key
from tgstream.web import previews

PUBLIC = "https://media.example.org/base"
DATA = os.urandom(50_000)
# Not a real JPEG: the route serves whatever bytes Telegram keeps, as they are.
THUMB = b"\xff\xd8\xff" + os.urandom(3000)


def with_thumb(info: FileInfo, length: int = len(THUMB)) -> FileInfo:
    return dataclasses.replace(info, thumb_type="m", thumb_length=length)


@dataclasses.dataclass
class App:
    services: Services
    files: MemoryFiles
    client: httpx.AsyncClient

    @property
    def secret(self) -> str:
        return self.services.secret

    def thumb(self, message_id: int = 1, expires: int | None = None) -> str:
        return links.thumb_path(message_id, self.secret, expires)

    def watch(self, message_id: int = 1, name: str = "clip.mp4") -> str:
        return links.watch_path(message_id, name, self.secret)


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    services = Services.build(settings_for(tmp_path, public_url=PUBLIC))
    files = MemoryFiles()
    files.add(with_thumb(file_info(1, len(DATA))), DATA)
    files.thumbs[1] = THUMB
    files.add(file_info(2, len(DATA), file_name="plain.mp4"), DATA)
    files.add(file_info(3, len(DATA), "video/x-matroska", "film.mkv"), DATA)
    files.add(file_info(4, len(DATA), "application/zip", "backup.zip"), DATA)
    try:
        async with client_of(app_over(services, files)) as client:
            yield App(services, files, client)
    finally:
        await services.store.close()


def metas(page: str) -> dict[str, str]:
    """The page's <meta property|name=... content=...> tags, unescaped."""
    found = re.findall(r'<meta (?:property|name)="([^"]+)" content="([^"]*)">', page)
    return {name: unescape(content) for name, content in found}


# --- the thumbnail route ----------------------------------------------------------------


async def test_the_thumbnail_is_served_as_telegram_keeps_it(app: App) -> None:
    response = await app.client.get(app.thumb())
    assert response.status_code == 200
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(THUMB).digest()
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["content-length"] == str(len(THUMB))
    assert response.headers["cache-control"] == "private, max-age=3600"
    assert response.headers["x-content-type-options"] == "nosniff"
    etag = response.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]+-thumb-m-[0-9a-f]+"', etag)
    # Not the document's validator: a cache must never take one for the other.
    dl = await app.client.head(links.download_path(1, "clip.mp4", app.secret))
    assert dl.headers["etag"] != etag
    assert response.headers["last-modified"] == dl.headers["last-modified"]

    head = await app.client.head(app.thumb())
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(THUMB))

    fetches = app.files.thumb_fetches
    again = await app.client.get(app.thumb(), headers={"If-None-Match": f'W/{etag}, "x"'})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    # Revalidated from the record alone: no thumbnail fetched for it.
    assert app.files.thumb_fetches == fetches


async def test_forged_expired_and_revoked_thumbnail_links(app: App) -> None:
    forged = app.thumb().replace("sig=", "sig=x")
    for method in ("GET", "HEAD"):
        response = await app.client.request(method, forged)
        assert response.status_code == 403
    assert (await app.client.get(forged)).json() == {"error": "invalid or forged link"}
    # The signature of message 1 does not open message 2's thumbnail.
    other = app.thumb(1).replace("/thumb/1.jpg", "/thumb/2.jpg")
    assert (await app.client.get(other)).status_code == 403
    expired = await app.client.get(app.thumb(1, int(time.time()) - 5))
    assert expired.status_code == 410
    assert (await app.client.get(app.thumb(1, int(time.time()) + 600))).status_code == 200
    await app.services.revocations.set(1, True)
    revoked = await app.client.get(app.thumb())
    assert revoked.status_code == 410
    assert revoked.json() == {"error": "this link was revoked by the owner"}
    assert app.files.thumb_fetches == 1  # only the one valid link fetched it


async def test_a_file_without_a_thumbnail_says_so(app: App) -> None:
    for message_id in (2, 4):
        response = await app.client.get(app.thumb(message_id))
        assert response.status_code == 404
        assert response.json() == {"error": "this file has no thumbnail"}
    assert app.files.thumb_fetches == 0
    # The record says it has one, Telegram has none: the same clear answer, never a 500.
    app.files.thumbs.clear()
    response = await app.client.get(app.thumb())
    assert response.status_code == 404
    assert response.json() == {"error": "this file has no thumbnail"}
    page = await app.client.get(app.thumb(), headers={"Accept": "text/html"})
    assert page.status_code == 404 and "this file has no thumbnail" in page.text
    assert (await app.client.get("/thumb/0.jpg?sig=x")).status_code == 400
    assert (await app.client.get("/thumb/abc.jpg?sig=x")).status_code in (400, 404)


# --- the watch page -----------------------------------------------------------------------


async def test_watch_page_has_the_poster_and_preview_tags(app: App) -> None:
    response = await app.client.get(app.watch())
    assert response.status_code == 200
    page = response.text
    poster = re.search(r'<video [^>]*poster="([^"]+)"', page)
    assert poster is not None and unescape(poster.group(1)) == app.thumb()
    # The poster the page names is the thumbnail, byte for byte.
    image = await app.client.get(unescape(poster.group(1)))
    assert image.status_code == 200 and image.content == THUMB

    tags = metas(page)
    dl_abs = PUBLIC + links.download_path(1, "clip.mp4", app.secret)
    assert tags["og:title"] == "clip.mp4" == tags["twitter:title"]
    assert tags["og:type"] == "video.other"
    assert tags["og:description"] == "48.8 KiB · video/mp4"
    assert tags["og:url"] == PUBLIC + app.watch()
    assert tags["og:image"] == PUBLIC + app.thumb() == tags["twitter:image"]
    assert tags["og:image:type"] == "image/jpeg"
    assert tags["og:video"] == dl_abs and tags["og:video:secure_url"] == dl_abs
    assert tags["og:video:type"] == "video/mp4"
    assert tags["twitter:card"] == "summary_large_image"
    for name in ("og:url", "og:image", "og:video"):
        assert tags[name].startswith(PUBLIC + "/")


async def test_page_without_a_thumbnail_has_no_poster_nor_image(app: App) -> None:
    page = (await app.client.get(app.watch(2, "plain.mp4"))).text
    assert "poster=" not in page
    tags = metas(page)
    assert "og:image" not in tags and "twitter:image" not in tags
    assert tags["twitter:card"] == "summary" and tags["og:video:type"] == "video/mp4"


async def test_og_video_only_for_files_a_browser_plays_as_they_are(app: App) -> None:
    mkv = metas((await app.client.get(app.watch(3, "film.mkv"))).text)
    assert mkv["og:type"] == "video.other" and "og:video" not in mkv
    zipped = (await app.client.get(app.watch(4, "backup.zip"))).text
    tags = metas(zipped)
    assert tags["og:type"] == "website" and "og:video" not in tags
    # No player links for a file no player plays.
    assert "/m3u/" not in zipped and "/hls/" not in zipped


async def test_watch_page_links_the_playlist_and_the_hls_stream(app: App) -> None:
    page = (await app.client.get(app.watch())).text
    m3u = re.search(r'id="m3u-link" href="([^"]+)"', page)
    hls = re.search(r'id="hls-link" href="([^"]+)"', page)
    assert m3u is not None and hls is not None
    assert unescape(m3u.group(1)) == PUBLIC + links.m3u_path(1, "clip.mp4", app.secret)
    assert unescape(hls.group(1)) == PUBLIC + f"/hls/1/index.m3u8?sig={links.sign(1, app.secret)}"
    # A page opened by an expiring link offers links that end with it.
    ends = int(time.time()) + 3600
    page = (await app.client.get(links.watch_path(1, "clip.mp4", app.secret, ends))).text
    assert f"exp={ends}" in unescape(re.findall(r'id="hls-link" href="([^"]+)"', page)[0])
    poster = re.search(r'poster="([^"]+)"', page)
    assert poster is not None and unescape(poster.group(1)) == app.thumb(1, ends)


async def test_names_are_escaped_in_the_tags(app: App) -> None:
    name = 'a"><script>x</script>.mp4'
    app.files.add(file_info(9, len(DATA), file_name=name), DATA)
    page = (await app.client.get(app.watch(9, name))).text
    assert "<script>x" not in page
    assert metas(page)["og:title"] == name


# --- the playlist -------------------------------------------------------------------------


async def test_m3u_playlist_is_exact(app: App) -> None:
    path = links.m3u_path(1, "clip.mp4", app.secret)
    assert path.startswith("/m3u/1/clip.mp4.m3u?sig=")
    response = await app.client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/x-mpegurl"
    dl_abs = PUBLIC + links.download_path(1, "clip.mp4", app.secret)
    assert response.text == f"#EXTM3U\n#EXTINF:-1,clip.mp4\n{dl_abs}\n"
    assert response.headers["content-disposition"].startswith('attachment; filename="clip.mp4.m3u"')
    # The entry is a download link that works.
    played = await app.client.get(dl_abs.removeprefix(PUBLIC))
    assert played.status_code == 200 and played.content == DATA

    ends = int(time.time()) + 60
    ending = await app.client.get(links.m3u_path(1, "clip.mp4", app.secret, ends))
    assert ending.text.splitlines()[2] == PUBLIC + links.download_path(
        1, "clip.mp4", app.secret, ends
    )
    assert (await app.client.get(path.replace("sig=", "sig=x"))).status_code == 403
    assert (await app.client.head(path)).status_code == 200


async def test_m3u_title_stays_on_one_line(app: App) -> None:
    name = "two\r\n#EXTINF:1,evil\nhttp://elsewhere/x.mp4"
    app.files.add(file_info(7, len(DATA), file_name=name), DATA)
    text = (await app.client.get(links.m3u_path(7, name, app.secret))).text
    lines = text.splitlines()
    assert len(lines) == 3 and lines[0] == "#EXTM3U"
    assert lines[1] == "#EXTINF:-1,two  #EXTINF:1,evil http://elsewhere/x.mp4"
    assert lines[2].startswith(PUBLIC + "/dl/7/")


# --- pure parts -------------------------------------------------------------------------------


def test_playlist_text() -> None:
    assert previews.playlist("x.mp4", "http://h/dl/1/x.mp4?sig=s") == (
        "#EXTM3U\n#EXTINF:-1,x.mp4\nhttp://h/dl/1/x.mp4?sig=s\n"
    )
    assert previews.playlist("x", "u", 61) == "#EXTM3U\n#EXTINF:61,x\nu\n"
    assert previews.playlist("\n\t", "u") == "#EXTM3U\n#EXTINF:-1,file\nu\n"


def test_thumbnail_keys_are_not_part_keys() -> None:
    info = with_thumb(file_info(1, 10))
    key = thumbnail_key(info)
    assert key[0] == info.media_id  # dropped with the file's parts
    assert key != (info.media_id, 0, len(THUMB)) and len(key) == 3
    # On disk under a name of its own, never a part's, dropped with the file's parts.
    name = disk_key(key)
    assert name is not None and name[1] == info.media_id
    parts = {disk_key((info.media_id, at, size)) for at in (0, 4096) for size in (4096, 1 << 20)}
    assert name not in parts


def test_page_links_without_a_thumbnail() -> None:
    info = file_info(5, 10)
    page = previews.page_links(info, "secret", None, "http://h:1/")
    assert page.poster is None and page.poster_abs is None
    assert page.page_abs == "http://h:1" + links.watch_path(5, "clip.mp4", "secret")
    assert page.m3u_abs == "http://h:1" + links.m3u_path(5, "clip.mp4", "secret")
    shown = previews.page_links(with_thumb(info), "secret", 99, "http://h:1")
    assert shown.poster == links.thumb_path(5, "secret", 99)
    assert shown.poster_abs == "http://h:1" + links.thumb_path(5, "secret", 99)
    assert shown.poster is not None
    sig = shown.poster.split("sig=")[1]
    assert links.check(5, sig, "99", "secret", 0.0) is links.LinkState.VALID


async def test_a_photo_is_its_own_preview_picture(app: App) -> None:
    photo = dataclasses.replace(
        file_info(11, len(DATA), "image/jpeg", "photo-11.jpg"), kind="photo", thumb_size="y"
    )
    app.files.add(photo, DATA)
    page = (await app.client.get(app.watch(11, "photo-11.jpg"))).text
    tags = metas(page)
    assert tags["og:image"] == PUBLIC + links.download_path(11, "photo-11.jpg", app.secret)
    assert tags["twitter:card"] == "summary_large_image" and tags["og:type"] == "website"
    assert "poster=" not in page and "og:video" not in tags
    # It has no thumbnail of its own to serve.
    assert (await app.client.get(app.thumb(11))).status_code == 404


def test_a_probed_video_keeps_its_poster_while_watch_js_chooses() -> None:
    """With a probe the player starts without a source (watch.js gives it one): the poster
    is what shows meanwhile, and the preview tags and player links are there as without."""
    from tgstream.media.probe import MediaProbe, Track
    from tgstream.web import watch

    info = with_thumb(file_info(7, 10_000, "application/octet-stream", "film.bin"))
    probe = MediaProbe(
        container="matroska,webm",
        mime="video/x-matroska",
        duration=60.0,
        start_time=0.0,
        tracks=(Track(0, "video", "h264", "avc1.64001f", width=640, height=360, default=True),),
        keyframes=(),
    )
    dl = links.download_path(7, "film.bin", "k")
    page = previews.page_links(info, "k", None, PUBLIC)
    html = watch.render(info, dl, PUBLIC + dl, probe, "/hls/7/index.m3u8?sig=x", page)
    video = re.search(r"<video [^>]*>", html)
    assert video is not None and " src=" not in video.group(0)
    assert f'poster="{links.thumb_path(7, "k")}"'.replace("&", "&amp;") in video.group(0)
    assert metas(html)["og:image"] == PUBLIC + links.thumb_path(7, "k")
    assert 'id="m3u-link"' in html and 'id="hls-link"' in html  # a film, by its tracks
