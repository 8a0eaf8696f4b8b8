"""`tgstream bench --record-trace PLAYER`: what a real player asks of tgstream while a user
seeks about a film, written as a trace (tgbench/trace.py) for the bench to replay.

The film is made here with Debian's ffmpeg (720p H.264 at about 4 Mbit/s with AAC, MP4 with its
index first, three minutes: the bitrate of a film, which sets how far a player reads ahead), posted
to the bin channel on the bench's distant DC and served by tgstream at its defaults, with the
recording proxy (tgbench/record_proxy.py) between the player and tgstream.  The players are
Debian's: Chromium's <video> driven by Playwright as tests/e2e/test_browser.py drives it, and
mpv (`--vo=null --ao=null`, seeking through its JSON IPC socket).  The user's session is the same
for both (SESSION): play, jump to a far point, skip ten seconds either way, jump again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from tgemu.launch import EmulatorProcess

from .lineup import Server, lineup
from .record_proxy import Recorder, serve
from .scenarios import DC
from .trace import TRACES, from_json, parse_range

PLAYERS = ("chromium", "mpv")
CHROMIUM = "/usr/bin/chromium"
MPV = "/usr/bin/mpv"
FILM_SECONDS = 180
# mpv at its defaults caches up to 150 MiB ahead: a shorter film it reads whole and asks nothing
# more of, which says nothing about seeks in a film of a few GB.
LOOPS = {"chromium": 1, "mpv": 4}
WATCH_S = 4.0  # how long the user watches after each jump once the picture moves again
# ("to", fraction of the film) jumps there; ("skip", seconds) moves from where it plays.
SESSION: tuple[tuple[str, float], ...] = (
    ("to", 0.50),
    ("skip", 10.0),
    ("to", 0.20),
    ("skip", -10.0),
    ("to", 0.80),
    ("to", 0.35),
    ("skip", 10.0),
    ("to", 0.65),
    ("to", 0.10),
    ("to", 0.90),
)
# Without the networking flags Chromium spends its start-up on connections this closed
# network refuses; --no-sandbox because CI runs as root.  The browser tests use these too.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--disable-sync",
    "--no-first-run",
]
_PLAYER_ARGS = [*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]

Say = Callable[[str], None]


def make_film(path: Path, loops: int = 1) -> Path:
    """Three minutes of 720p test pattern and tone, encoded like a film is streamed, played
    `loops` times over (copied, not encoded again)."""
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("the film is made with ffmpeg: install Debian's ffmpeg")
    lavfi = [
        f"testsrc2=size=1280x720:rate=25:duration={FILM_SECONDS}",
        f"sine=frequency=440:sample_rate=48000:duration={FILM_SECONDS}",
    ]
    video = ["-c:v", "libx264", "-preset", "ultrafast", "-b:v", "4M", "-maxrate", "4M"]
    video += ["-bufsize", "8M", "-g", "50", "-pix_fmt", "yuv420p"]
    audio = ["-c:a", "aac", "-b:a", "128k"]
    inputs = ["-f", "lavfi", "-i", lavfi[0], "-f", "lavfi", "-i", lavfi[1]]
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            *inputs,
            *video,
            *audio,
            "-movflags",
            "+faststart",
            str(path),
        ],
        check=True,
    )
    if loops > 1:
        once = path.with_suffix(".once.mp4")
        path.rename(once)
        subprocess.run(
            [
                "ffmpeg",
                "-loglevel",
                "error",
                "-y",
                "-stream_loop",
                str(loops - 1),
                "-i",
                str(once),
                "-c",
                "copy",
                "-movflags",
                "+faststart",
                str(path),
            ],
            check=True,
        )
        once.unlink()
    return path


class Player:
    """What a user does to one player: wait for the picture, jump, read the clock."""

    async def position(self) -> float:
        raise NotImplementedError

    async def jump(self, seconds: float) -> None:
        raise NotImplementedError

    async def playing_past(self, seconds: float, within: float = 60.0) -> None:
        """Wait until the player has left its seek and plays past `seconds`."""
        raise NotImplementedError


async def _session(player: Player, seconds: float, rec: Recorder, say: Say) -> list[dict[str, Any]]:
    actions = []
    await player.playing_past(0.3)
    await asyncio.sleep(WATCH_S)
    for kind, value in SESSION:
        now = await player.position()
        to = seconds * value if kind == "to" else now + value
        at = rec.now()
        await player.jump(to)
        await player.playing_past(to + 0.3)
        actions.append({"at_s": round(at, 3), "from_s": round(now, 2), "to_s": round(to, 2)})
        say(f"  jumped {now:.0f} s -> {to:.0f} s, playing after {rec.now() - at:.2f} s")
        await asyncio.sleep(WATCH_S)
    return actions


class _Chromium(Player):
    def __init__(self, page: Any) -> None:
        self.page = page

    async def position(self) -> float:
        return float(await self.page.evaluate("() => document.querySelector('video').currentTime"))

    async def jump(self, seconds: float) -> None:
        await self.page.evaluate(
            f"() => {{ document.querySelector('video').currentTime = {seconds}; }}"
        )

    async def playing_past(self, seconds: float, within: float = 60.0) -> None:
        await self.page.wait_for_function(
            "t => { const v = document.querySelector('video');"
            " return !v.seeking && !v.paused && v.currentTime > t; }",
            arg=seconds,
            timeout=within * 1000,
        )


@contextlib.asynccontextmanager
async def _chromium(url: str) -> AsyncIterator[tuple[Player, str]]:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        raise RuntimeError("recording Chromium needs Playwright (requirements-dev.txt)") from None

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=_PLAYER_ARGS
        )
        try:
            page = await browser.new_page()
            await page.set_content(f'<video src="{url}" muted autoplay></video>')
            yield _Chromium(page), f"Chromium {browser.version}"
        finally:
            await browser.close()


class _Mpv(Player):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.ids = 0

    async def command(self, *args: Any) -> Any:
        self.ids += 1
        self.writer.write(
            json.dumps({"command": list(args), "request_id": self.ids}).encode() + b"\n"
        )
        await self.writer.drain()
        while True:
            reply = json.loads(await self.reader.readline())
            if reply.get("request_id") == self.ids:
                return reply.get("data") if reply.get("error") == "success" else None

    async def position(self) -> float:
        return float(await self.command("get_property", "time-pos") or 0.0)

    async def jump(self, seconds: float) -> None:
        await self.command("seek", seconds, "absolute")

    async def playing_past(self, seconds: float, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            pos = await self.command("get_property", "time-pos")
            seeking = await self.command("get_property", "seeking")
            if pos is not None and not seeking and float(pos) > seconds:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"mpv did not play past {seconds:.1f} s")


async def _mpv_version() -> str:
    if shutil.which(MPV) is None:
        raise RuntimeError("install Debian's mpv (.ci/debian-packages lists it)")
    proc = await asyncio.create_subprocess_exec(MPV, "--version", stdout=subprocess.PIPE)
    out, _ = await proc.communicate()
    return out.decode().split("\n", 1)[0].split(" Copyright")[0]


@contextlib.asynccontextmanager
async def _mpv(url: str, base: Path) -> AsyncIterator[tuple[Player, str]]:
    sock = base / "mpv.sock"
    version = await _mpv_version()
    log = (base / "mpv.log").open("w")
    proc = await asyncio.create_subprocess_exec(
        MPV,
        "--no-config",
        "--vo=null",
        "--ao=null",
        f"--input-ipc-server={sock}",
        url,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(200):
            if sock.exists():
                break
            await asyncio.sleep(0.05)
        reader, writer = await asyncio.open_unix_connection(str(sock))
        try:
            yield _Mpv(reader, writer), version
        finally:
            writer.close()
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
        log.close()


def _trace(player: str, version: str, file_bytes: int, rec: Recorder, actions: Any) -> Any:
    seconds = FILM_SECONDS * LOOPS[player]
    requests = []
    for s in rec.seen:
        if s.status not in (200, 206):
            continue
        first, last = parse_range(s.range)
        requests.append(
            {
                "start_s": round(s.started, 3),
                "first": first,
                "last": last,
                "read": s.taken,
                "end_s": round(s.ended if s.ended is not None else rec.now(), 3),
                "aborted": s.aborted,
                "recorded_ttfb_ms": None if s.first_byte is None else round(s.first_byte * 1000),
            }
        )
    return {
        "player": version,
        "how": (
            f"{player} played a {seconds} s 720p H.264/AAC MP4 (index first, about 4 Mbit/s) "
            "served by tgstream at its defaults from DC 4 at the bench's RTT and rates; the user "
            f"watched {WATCH_S:.0f} s after every jump. 'read' is what the recording proxy handed "
            "the player (an upper bound by the player's socket buffer)."
        ),
        "file_bytes": file_bytes,
        "actions": actions,
        "requests": requests,
    }


async def _record(player: str, url: str, base: Path, say: Say) -> tuple[str, Recorder, Any]:
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    rec = Recorder((host, int(port)))
    proxy = await serve(rec)
    proxy_port = proxy.sockets[0].getsockname()[1]
    via = url.replace(f"{host}:{port}", f"127.0.0.1:{proxy_port}", 1)
    opened: Callable[[], contextlib.AbstractAsyncContextManager[tuple[Player, str]]]
    opened = (lambda: _chromium(via)) if player == "chromium" else (lambda: _mpv(via, base))
    try:
        rec.start()
        async with opened() as (p, version):
            say(f"{version}: playing through the recording proxy ...")
            actions = await _session(p, FILM_SECONDS * LOOPS[player], rec, say)
        await asyncio.sleep(0.5)  # the last hang-ups are seen
    finally:
        proxy.close()
    return version, rec, actions


def record(emu: EmulatorProcess, player: str, base: Path, out: Path | None, say: Say) -> Path:
    """Record `player` seeking about the film; write the trace (by default under
    tgbench/traces/) and return its path."""
    if player not in PLAYERS:
        raise RuntimeError(f"no such player: {player} (one of {', '.join(PLAYERS)})")
    say("making the film with ffmpeg ...")
    try:
        film = make_film(base / "film.mp4", LOOPS[player]).read_bytes()
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"ffmpeg could not make the film (exit {exc.returncode})") from None
    posted = emu.post_to_channel(film, DC, "film.mp4", mime_type="video/mp4", kind="video")
    tgstream = next(c for c in lineup() if c.name == "tgstream")
    server = Server(tgstream, emu, base / "record-server")
    server.start()
    try:
        url = server.link(posted["message_id"])
        version, rec, actions = asyncio.run(_record(player, url, base, say))
    finally:
        server.stop()
    doc = _trace(player, version, len(film), rec, actions)
    from_json(player, doc)  # what is written must load
    path = out or TRACES / f"{player}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    say(f"{len(doc['requests'])} requests written to {path}")
    return path
