"""watch.js's choice, run by node (Debian's, as the GramJS peer check uses): for each kind of
file the probe describes and each kind of browser (what its canPlayType and
MediaSource.isTypeSupported answer), whether the page plays the file itself, HLS through
hls.js, the browser's own HLS, or says which codec it cannot decode."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.support.processes import ROOT

WATCH_JS = ROOT / "tgstream" / "web" / "static" / "watch.js"
HLS = "/hls/7/index.m3u8?sig=s"

# Each browser: the types its element plays (canPlayType), those its Media Source takes,
# and whether it plays HLS itself.  As the real ones answer for these codecs.
CHROMIUM = {
    "direct": [
        'video/mp4; codecs="avc1.64001f,mp4a.40.2"',
        'video/mp4; codecs="avc1.64001f"',
        'video/mp4; codecs="avc1.64001f,opus"',
        'video/webm; codecs="vp09.00.10.08,opus"',
        'audio/flac; codecs="flac"',
        'audio/mpeg; codecs="mp3"',
    ],
    "mse": [
        'video/mp4; codecs="avc1.64001f,mp4a.40.2"',
        'video/mp4; codecs="avc1.64001f"',
        'video/mp4; codecs="vp09.00.10.08,mp4a.40.2"',
        'video/mp4; codecs="vp09.00.10.08"',
        'audio/mp4; codecs="mp4a.40.2"',
    ],
    "native": False,
}
# Safari on an older iPhone: no Media Source, HLS itself, HEVC in MP4.
IPHONE = {
    "direct": [
        'video/mp4; codecs="avc1.64001f,mp4a.40.2"',
        'video/mp4; codecs="avc1.64001f"',
        'video/mp4; codecs="hev1.1.6.L93.B0,mp4a.40.2"',
        'video/mp4; codecs="hev1.1.6.L93.B0"',
        'audio/mp4; codecs="mp4a.40.2"',
    ],
    "mse": [],
    "native": True,
}
# A browser with neither Media Source nor HLS of its own.
BARE = {"direct": ['video/mp4; codecs="avc1.64001f,mp4a.40.2"'], "mse": [], "native": False}


def _video(codec: str, name: str, string: str | None) -> dict[str, Any]:
    return {"codec": codec, "name": name, "type": string}


def _audio(codec: str, name: str, string: str | None) -> dict[str, Any]:
    return {"codec": codec, "name": name, "type": string, "label": "eng", "channels": "5.1"}


H264 = _video("h264", "H.264", "avc1.64001f")
HEVC = _video("hevc", "HEVC", "hev1.1.6.L93.B0")
XVID = _video("mpeg4", "MPEG-4 Part 2", None)  # no browser codec string exists for it
AAC = _audio("aac", "AAC", "mp4a.40.2")
AC3 = _audio("ac3", "AC-3", "ac-3")
DTS = _audio("dts", "DTS", None)
FLAC = _audio("flac", "FLAC", "flac")
SRT = {"label": "English", "language": "eng"}


def _media(
    mime: str,
    video: dict[str, Any] | None,
    audio: list[dict[str, Any]],
    subtitles: list[dict[str, str]] | None = None,
    hls: str | None = HLS,
) -> dict[str, Any]:
    return {
        "mime": mime,
        "video": video,
        "audio": audio,
        "subtitles": subtitles or [],
        "src": "/dl/7/f?sig=s",
        "hls": hls,
        "hls_js": "/static/hls.min.js",
    }


def _note(what: str) -> str:
    return f"This browser cannot decode {what}: open it in a player, or download it."


CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, str]]] = [
    # An MP4 the browser plays: the file itself, no HLS.
    ("mp4 h264 aac", _media("video/mp4", H264, [AAC]), CHROMIUM, {"mode": "direct"}),
    ("mp4 video only", _media("video/mp4", H264, []), CHROMIUM, {"mode": "direct"}),
    # MKV with AC-3: Chromium names no Matroska type, nor AC-3: HLS, whose audio is AAC.
    ("mkv h264 ac3", _media("video/x-matroska", H264, [AC3]), CHROMIUM, {"mode": "hls"}),
    ("mkv on iphone", _media("video/x-matroska", H264, [AC3]), IPHONE, {"mode": "native"}),
    # Audio no browser names (no codec string): never the file itself.
    ("mp4 h264 dts", _media("video/mp4", H264, [DTS]), CHROMIUM, {"mode": "hls"}),
    # Several audio tracks or subtitles: HLS, which offers them, though the file would play.
    ("two audio", _media("video/mp4", H264, [AAC, AAC]), CHROMIUM, {"mode": "hls"}),
    ("subtitles", _media("video/mp4", H264, [AAC], [SRT]), CHROMIUM, {"mode": "hls"}),
    # ... unless there is no HLS to offer: then the file itself, first audio track.
    (
        "two audio, no hls",
        _media("video/mp4", H264, [AAC, AC3], hls=None),
        CHROMIUM,
        {"mode": "direct"},
    ),
    # HEVC: Chromium decodes it neither way; Safari does, through its own HLS.
    (
        "hevc in chromium",
        _media("video/x-matroska", HEVC, [AAC]),
        CHROMIUM,
        {"mode": "none", "note": _note("HEVC video")},
    ),
    ("hevc on iphone", _media("video/x-matroska", HEVC, [AAC]), IPHONE, {"mode": "native"}),
    (
        "mpeg-4 part 2",
        _media("video/x-msvideo", XVID, [AC3]),
        CHROMIUM,
        {"mode": "none", "note": _note("MPEG-4 Part 2 video")},
    ),
    # Video the browser decodes, audio it does not, and no HLS: the audio is named.
    (
        "ac3, no hls",
        _media("video/x-matroska", H264, [AC3], hls=None),
        CHROMIUM,
        {"mode": "none", "note": _note("AC-3 audio")},
    ),
    (
        "no media source, no native hls",
        _media("video/x-matroska", H264, [AC3]),
        BARE,
        {"mode": "none", "note": _note("this file")},
    ),
    # Audio alone: FLAC plays itself, AC-3 through HLS as AAC, or is named without HLS.
    ("flac", _media("audio/flac", None, [FLAC]), CHROMIUM, {"mode": "direct"}),
    ("ac3 audio", _media("audio/x-matroska", None, [AC3]), CHROMIUM, {"mode": "hls"}),
    (
        "ac3 audio, no hls",
        _media("audio/x-matroska", None, [AC3], hls=None),
        CHROMIUM,
        {"mode": "none", "note": _note("AC-3 audio")},
    ),
]


def _choices(cases: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, str]]]) -> Any:
    """choose() of each (media, browser), all in one node process."""
    script = """
const {choose} = require(process.argv[1]);
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
const answers = cases.map(([media, browser]) => choose(media, {
  direct: (type) => browser.direct.includes(type),
  mse: (type) => browser.mse.includes(type),
  nativeHls: () => browser.native,
}));
process.stdout.write(JSON.stringify(answers));
"""
    node = shutil.which("node")
    assert node, "node is installed by .ci/debian-packages"
    proc = subprocess.run(
        [node, "-e", script, str(WATCH_JS)],
        input=json.dumps([[media, browser] for _, media, browser, _ in cases]),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(proc.stdout)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_the_page_plays_what_the_browser_decodes(
    case: tuple[str, dict[str, Any], dict[str, Any], dict[str, str]],
) -> None:
    (answer,) = _choices([case])
    assert answer == case[3]


def test_every_answer_is_one_of_the_four_ways() -> None:
    """All combinations of one video and one audio codec, hls or not, in each browser: an
    answer is always one of the four, and "none" always says what to do."""
    cases = [
        ("x", _media(mime, video, audio, hls=hls), browser, {})
        for mime in ("video/mp4", "video/x-matroska", "video/webm", "")
        for video in (H264, HEVC, XVID, None)
        for audio in ([AAC], [AC3], [DTS], [], [AAC, AC3])
        for hls in (HLS, None)
        for browser in (CHROMIUM, IPHONE, BARE)
    ]
    for answer in _choices(cases):
        assert answer["mode"] in ("direct", "hls", "native", "none"), answer
        if answer["mode"] == "none":
            assert answer["note"].endswith(": open it in a player, or download it."), answer
        else:
            assert set(answer) == {"mode"}, answer
