"""Pages for people against a running server and the emulator: error pages and the landing
page as a browser sees them (headless Chromium, screenshots looked at), JSON for curl-like
clients, and one file name across the bot's reply, its links, the watch page and the
download, for a photo and a document (whose downloads also revalidate by date: 304)."""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from playwright.sync_api import sync_playwright

from tests.e2e.conftest import new_server
from tests.e2e.test_bot_flow import replies_to
from tests.e2e.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.support.processes import SECRET, EmulatorProcess, ServerProcess
from tgstream import links

# The emulator names its bots tgstream_test<n>_bot; the server learns it from get_me.
BOT = "tgstream_test1_bot"
USER = 53002
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def _text(page: Any) -> str:
    text: str = page.inner_text("body")
    return " ".join(text.split())


def test_browsers_get_pages_and_screenshots_show_them(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    server = new_server(server_factory, emulator, tmp_path, "pages")
    missing = server.link(2_000_000_000, "gone.mp4")  # signed, but no such message
    watch_pages = {}
    for count, (kind, name, mime) in enumerate(
        (("video", "holiday clip.mp4", "video/mp4"), ("document", "backup.zip", "application/zip")),
        start=1,
    ):
        httpx.post(
            f"{emulator.url}/users/{USER}/documents",
            files={"file": (name, os.urandom(40_000))},
            data={"dc_id": "4", "kind": kind, "mime_type": mime},
        ).raise_for_status()
        reply = replies_to(emulator, USER, count)[-1]
        watch_pages[f"watch-{kind}"] = next(u for u in reply["urls"] if "/watch/" in u)
    forged = missing.replace("sig=", "sig=x")
    # A link that ended a minute ago (the owner's expiring links): 410 Gone.
    expired = server.url + links.watch_path(1, "old.mp4", SECRET, int(time.time()) - 60)
    # Kept after the run, beside the watch page's own screenshot (test_browser.py).
    shots = ARTIFACTS / "pages"
    shots.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {shots}")
    seen: dict[str, tuple[int, str]] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 720, "height": 720})
            css: list[int] = []
            page.on("response", lambda r: css.append(r.status) if r.url.endswith(".css") else None)
            visits = [
                ("landing", server.url + "/"),
                ("404", missing),
                ("403", forged),
                ("410", expired),
            ]
            for name, url in [*visits, *watch_pages.items()]:
                response = page.goto(url)
                assert response is not None
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
                seen[name] = (response.status, _text(page))
        finally:
            browser.close()

    assert css and all(status == 200 for status in css), css  # every page got its style
    status, text = seen["landing"]
    assert status == 200 and "tgstream is up" in text
    assert f"@{BOT}" in text and "Status: Ready" in text
    status, text = seen["404"]
    assert status == 404 and "File not found" in text and "404 Not Found: no such file" in text
    status, text = seen["403"]
    assert status == 403 and "This link is not valid" in text
    status, text = seen["410"]
    assert status == 410 and "This link no longer works" in text and "410 Gone" in text
    status, text = seen["watch-video"]
    assert status == 200 and "holiday clip.mp4" in text
    assert all(f"{player}" in text for player in ("VLC", "mpv", "MX Player", "IINA", "Download"))
    status, text = seen["watch-document"]
    assert status == 200 and "backup.zip" in text and "39.1 KiB" in text and "Download" in text
    assert "VLC" not in text
    for name in seen:
        assert (shots / f"{name}.png").stat().st_size > 5_000


def test_curl_like_clients_get_json(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    server = new_server(server_factory, emulator, tmp_path, "json")
    missing = server.link(2_000_000_000, "gone.mp4")
    for accept in (None, "*/*", "application/json", "application/json, text/html"):
        headers = {} if accept is None else {"Accept": accept}
        landing = httpx.get(server.url + "/", headers=headers, timeout=30)
        assert landing.status_code == 200 and landing.json()["ok"] is True
        assert landing.json()["bot_url"] == f"https://t.me/{BOT}"
        gone = httpx.get(missing, headers=headers, timeout=30)
        assert gone.status_code == 404 and gone.json() == {"error": "no such file"}
        forged = httpx.get(missing.replace("sig=", "sig=x"), headers=headers)
        assert forged.status_code == 403 and forged.json() == {"error": "invalid or forged link"}
    # The same answers to a browser, as pages with the same status and headers.
    page = httpx.get(missing, headers={"Accept": BROWSER_ACCEPT}, timeout=30)
    data = httpx.get(missing, headers={"Accept": "*/*"}, timeout=30)
    assert page.status_code == data.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    skip = {"content-type", "content-length", "date"}
    assert {k: v for k, v in page.headers.items() if k not in skip} == {
        k: v for k, v in data.headers.items() if k not in skip
    }


def _name_in(url: str) -> str:
    """The file name segment of a /dl/ or /watch/ link."""
    return unquote(urlsplit(url).path.rsplit("/", 1)[1])


def _filename_star(disposition: str) -> str:
    match = re.search(r"filename\*=UTF-8''([^;]+)", disposition)
    assert match, disposition
    return unquote(match[1])


def test_one_name_across_bot_link_page_and_download(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    server = new_server(server_factory, emulator, tmp_path, "names")
    user = 53001
    # Messages first, until the user's file and its bin-channel copy cannot share an id: the
    # user's box counts every message and reply, the channel its copies and posts (of this
    # module's other tests too), so the box is taken past the channel's last id.
    channel = emulator.config["bin_channel"]
    posts = httpx.get(f"{emulator.url}/channels/{channel}/messages").json()
    channel_top = max((m["id"] for m in posts), default=0)
    box_top = started = 0  # a new user: nothing in the box yet
    while box_top <= channel_top + 4:
        httpx.post(
            f"{emulator.url}/users/{user}/messages", json={"text": "/start"}
        ).raise_for_status()
        started += 1
        box_top = replies_to(emulator, user, started)[-1]["id"]
    sent = [
        ("photo", "IMG_0042.jpg", "image/jpeg", os.urandom(70_000)),
        ("document", "Quarterly report (final).pdf", "application/pdf", os.urandom(90_000)),
    ]
    for count, (kind, upload_name, mime, data) in enumerate(sent, start=started + 1):
        posted = httpx.post(
            f"{emulator.url}/users/{user}/documents",
            files={"file": (upload_name, data)},
            data={"dc_id": "2", "kind": kind, "mime_type": mime, "file_name": upload_name},
        )
        posted.raise_for_status()
        reply = replies_to(emulator, user, count)[-1]
        download = next(u for u in reply["urls"] if "/dl/" in u)
        watch = next(u for u in reply["urls"] if "/watch/" in u)
        bin_id = int(urlsplit(download).path.split("/")[2])
        assert bin_id != posted.json()["message_id"]
        name = f"photo-{bin_id}.jpg" if kind == "photo" else upload_name

        # The bot's reply and both links.
        assert re.search(rf"<b>{re.escape(name)}</b>|^{re.escape(name)}$", reply["text"], re.M)
        assert _name_in(download) == _name_in(watch) == name
        # The watch page.
        page = httpx.get(watch, timeout=30)
        assert page.status_code == 200
        assert f"<title>{name} · tgstream</title>" in page.text
        assert f"<h1>{name}</h1>" in page.text
        # The bot's Download link saves, under the same name, the exact bytes.
        saved = httpx.get(download, timeout=30)
        assert saved.status_code == 200
        assert hashlib.sha256(saved.content).digest() == hashlib.sha256(data).digest()
        disposition = saved.headers["content-disposition"]
        assert disposition.startswith("attachment;") and _filename_star(disposition) == name
        # Revalidated by date: 304, nothing sent again (RFC 9110 §13.1.3).
        since = {"If-Modified-Since": saved.headers["last-modified"]}
        for method in ("GET", "HEAD"):
            again = httpx.request(method, download, headers=since)
            assert again.status_code == 304 and again.content == b"", method
            assert again.headers["etag"] == saved.headers["etag"]
        # The page's player source plays inline, same name.
        src = re.search(r'(?:src|href)="(/dl/[^"]+?)"', page.text)
        assert src and _name_in(src[1].replace("&amp;", "&")) == name
        inline = httpx.head(server.url + src[1].replace("&amp;", "&"))
        assert _filename_star(inline.headers["content-disposition"]) == name
        if kind == "photo":
            assert inline.headers["content-disposition"].startswith("inline;")
