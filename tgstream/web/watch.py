"""The watch page: the browser's own player for video and audio, with buttons that hand
the link to a desktop or phone player; an image view for photos; a file card for anything
else.  Its CSS and JS are served by tgstream itself (static/), its headers are
pages.page_headers.  Pure: the file's facts and its URLs in, HTML out; every value that
came from Telegram or the request is escaped where it is put in.

With a probe of the file (its container and tracks), the page does not hand the raw file to
the player: it carries the probe's codec strings (RFC 6381) and the file's HLS address, and
watch.js asks the browser which of the two it can play (direct link, HLS, or neither: then it
says which codec is the trouble, beside the player buttons)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from string import Template
from typing import Any, Protocol
from urllib.parse import quote

from ..sizes import human_size
from ..store import FileInfo
from ..telegram.metadata import clean_media_type
from .pages import PAGE_HEAD
from .previews import PageLinks, meta_tags, player_urls

__all__ = ["ProbedFile", "ProbedTrack", "codec_name", "media_facts", "player_links", "render"]

# Where the build step puts hls.js (npm, pinned in npm/package-lock.json); watch.js loads
# it only when the page plays HLS through Media Source Extensions.
HLS_JS = "/static/hls.min.js"


class ProbedTrack(Protocol):
    """What the page reads of one track of a probe (media.probe.Track)."""

    @property
    def kind(self) -> str: ...
    @property
    def codec(self) -> str: ...
    @property
    def codec_string(self) -> str | None: ...
    @property
    def language(self) -> str | None: ...
    @property
    def title(self) -> str | None: ...
    @property
    def channels(self) -> int | None: ...
    @property
    def default(self) -> bool: ...


class ProbedFile(Protocol):
    """What the page reads of a file's probe (media.probe.MediaProbe)."""

    @property
    def mime(self) -> str: ...
    @property
    def tracks(self) -> Sequence[ProbedTrack]: ...


_PAGE = Template(
    # The link-preview tags ($meta, previews.meta_tags) go at the end of the shared head.
    PAGE_HEAD.replace("</head>", "$meta</head>")
    + """<main>
$view
<div class="actions">
<a class="button primary" href="$download_attachment" download="$download_name">Download</a>
<button class="button" id="copy-link" type="button" data-link="$download_abs">Copy link</button>
</div>
$players
$player_urls
<p class="hint" id="copy-hint" aria-live="polite"></p>
<footer>Served by tgstream. Seeking and resumed downloads work in any player.</footer>
</main>
<script src="/static/watch.js" defer></script>
</body>
</html>
"""
)

# A page with a sheet's folded corner: the file card's icon, drawn by the page itself.
_FILE_ICON = (
    '<svg class="file-icon" viewBox="0 0 48 60" aria-hidden="true">'
    '<path d="M4 2h28l14 14v40a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2z"/>'
    '<path class="fold" d="M32 2v12a2 2 0 0 0 2 2h12"/></svg>'
)

# The Android app MX Player (free edition) registers for VIEW intents of media types.
MX_PLAYER_PACKAGE = "com.mxtech.videoplayer.ad"


def player_links(download_abs: str, file_name: str, mime_type: str) -> list[tuple[str, str]]:
    """(label, URL) of each "Open in" button: the URL schemes the players register, each
    carrying the absolute download URL (the inline one: players ignore Content-Disposition).

    * VLC (iOS, Android, macOS): ``vlc://`` followed by the URL as it is.
    * mpv: ``mpv://`` followed by the URL, the form mpv's own handler strips (and the
      common Windows and Linux handlers of that scheme too).
    * MX Player (Android): a Chrome ``intent:`` URL, the link's scheme moved into the
      ``scheme=`` field, with the media type, the app's package and its title extra.
    * IINA (macOS): ``iina://weblink?url=`` and the URL percent-encoded.
    """
    scheme, _, rest = download_abs.partition("://")
    # Android decodes each field's value (Uri.decode), so values are percent-encoded: a ";"
    # or "#" in a name, or in a type ("#" is a token character), cannot end its field.
    kind = quote(clean_media_type(mime_type), safe="/")
    title = quote(file_name, safe="", errors="replace")
    intent = (
        f"intent://{rest}#Intent;scheme={scheme};type={kind};"
        f"package={MX_PLAYER_PACKAGE};S.title={title};end"
    )
    return [
        ("VLC", f"vlc://{download_abs}"),
        ("mpv", f"mpv://{download_abs}"),
        ("MX Player", intent),
        ("IINA", f"iina://weblink?url={quote(download_abs, safe='')}"),
    ]


def _view(info: FileInfo, src: str, media: str | None, kind: str, poster: str | None = None) -> str:
    """The file itself: a player (a video with its thumbnail as `poster`), an image, or (no
    browser view for it) a card.  With the probe's facts (`media`, JSON) the player has no
    source yet: watch.js gives it one."""
    name = escape(info.file_name)
    meta = f'<p class="meta">{human_size(info.size)} · {escape(info.mime_type)}</p>'
    mime = info.mime_type
    # Without a probe the player gets the file itself, as it always did (and without JS).
    source = f' src="{src}"' if media is None else ""
    if kind == "video":
        shown = "" if poster is None else f' poster="{escape(poster, quote=True)}"'
        player = (
            f'<video id="player" controls preload="metadata" playsinline{shown}'
            f'{source} type="{escape(mime, quote=True)}"></video>'
        )
    elif kind == "audio":
        player = f'<audio id="player" controls preload="metadata"{source}></audio>'
    elif kind == "image":
        player = f'<img id="player" src="{src}" alt="{escape(info.file_name, quote=True)}">'
    else:
        return f'<div class="file-card">{_FILE_ICON}\n<h1>{name}</h1>\n{meta}</div>'
    if media is None:
        return f'<div class="player">{player}</div>\n<h1>{name}</h1>\n{meta}'
    # The note replaces the black box when the browser can decode none of it; the track
    # menus appear when the player reports several audio tracks or any subtitles.
    return (
        f'<div class="player" data-media="{escape(media, quote=True)}">{player}\n'
        '<p class="playback-note" id="playback-note" role="status" hidden></p></div>\n'
        '<div class="tracks" id="tracks" hidden></div>\n'
        f"<h1>{name}</h1>\n{meta}"
    )


def _kind(mime: str, probe: ProbedFile | None) -> str:
    """Which element shows the file: the probe's tracks decide when there is one (a film sent
    as application/octet-stream is still a film), else the declared media type."""
    if probe is not None:
        kinds = {track.kind for track in probe.tracks}
        if "video" in kinds:
            return "video"
        if "audio" in kinds:
            return "audio"
    for kind in ("video", "audio", "image"):
        if mime.startswith(f"{kind}/"):
            return kind
    return "other"


# FFmpeg's codec names as people know them; any other is shown upper-cased.
_CODEC_NAMES = {
    "h264": "H.264",
    "hevc": "HEVC",
    "av1": "AV1",
    "vp8": "VP8",
    "vp9": "VP9",
    "mpeg4": "MPEG-4 Part 2",
    "mpeg2video": "MPEG-2",
    "mpeg1video": "MPEG-1",
    "msmpeg4v3": "DivX 3",
    "vc1": "VC-1",
    "wmv3": "WMV 9",
    "theora": "Theora",
    "prores": "ProRes",
    "aac": "AAC",
    "ac3": "AC-3",
    "eac3": "E-AC-3",
    "dts": "DTS",
    "truehd": "TrueHD",
    "mp3": "MP3",
    "mp2": "MP2",
    "opus": "Opus",
    "vorbis": "Vorbis",
    "flac": "FLAC",
    "alac": "ALAC",
    "wmav2": "WMA",
    "subrip": "SRT",
    "ass": "ASS",
    "ssa": "SSA",
    "webvtt": "WebVTT",
    "mov_text": "MP4 text",
}
# Text subtitles, the ones the HLS stream offers as WebVTT; pictures (PGS, VobSub) are not.
TEXT_SUBTITLES = frozenset({"subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text"})


def codec_name(codec: str) -> str:
    """A codec as a viewer knows it: ``hevc`` is HEVC, ``eac3`` E-AC-3."""
    return _CODEC_NAMES.get(codec, codec.upper()[:32] or "unknown")


def _channels(count: int | None) -> str:
    layouts = {1: "mono", 2: "stereo", 6: "5.1", 7: "6.1", 8: "7.1"}
    if not count:
        return ""
    return layouts.get(count, f"{count} ch")


def _label(track: ProbedTrack, number: int) -> str:
    """A track's name in a menu: its title or language ("und" is none), else its number."""
    language = track.language if track.language != "und" else None
    return (track.title or language or f"Track {number}").strip()[:80]


def media_facts(
    probe: ProbedFile, download_url: str, hls_url: str | None, hls_js: str = HLS_JS
) -> dict[str, Any]:
    """What watch.js decides with: the container's type, the video and audio tracks' codec
    strings and names (the first video track; the default audio track first, as players
    start with it), the text subtitles, the direct and HLS addresses and hls.js's own."""
    videos = [t for t in probe.tracks if t.kind == "video"]
    audios = [t for t in probe.tracks if t.kind == "audio"]
    audios.sort(key=lambda t: not t.default)  # stable: the default first, the rest in order
    subtitles = [t for t in probe.tracks if t.kind == "subtitle" and t.codec in TEXT_SUBTITLES]
    video = videos[0] if videos else None
    return {
        "mime": probe.mime,
        "video": None
        if video is None
        else {"codec": video.codec, "name": codec_name(video.codec), "type": video.codec_string},
        "audio": [
            {
                "codec": t.codec,
                "name": codec_name(t.codec),
                "type": t.codec_string,
                "label": _label(t, n),
                "channels": _channels(t.channels),
            }
            for n, t in enumerate(audios, 1)
        ],
        "subtitles": [
            {"label": _label(t, n), "language": t.language or ""}
            for n, t in enumerate(subtitles, 1)
        ],
        "src": download_url,
        "hls": hls_url,
        "hls_js": hls_js,
    }


def render(
    info: FileInfo,
    download_url: str,
    download_abs: str,
    probe: ProbedFile | None = None,
    hls_url: str | None = None,
    page: PageLinks | None = None,
) -> str:
    """The page of `info`; `download_url` is its /dl path (the player's source, inline),
    `download_abs` the same as an absolute URL (Copy link, the players' buttons).  With its
    `probe`, the page lets the browser choose between `download_url` and `hls_url` (the
    signed HLS master playlist); without one (not probed, or not audio/video), it plays
    `download_url` as it is.  `page` holds its other links (poster, link-preview tags,
    playlist and HLS links for players), when given."""
    src = escape(download_url, quote=True)
    sep = "&" if "?" in download_url else "?"
    kind = _kind(info.mime_type, probe)
    media = None
    if probe is not None and kind in ("video", "audio"):
        media = json.dumps(media_facts(probe, download_url, hls_url), separators=(",", ":"))
    players = ""
    if kind in ("video", "audio"):
        buttons = "\n".join(
            f'<a class="button" href="{escape(url, quote=True)}" rel="noopener">{label}</a>'
            for label, url in player_links(download_abs, info.file_name, info.mime_type)
        )
        players = (
            '<p class="meta">Open in a player:</p>\n'
            f'<div class="actions players">\n{buttons}\n</div>'
        )
    return _PAGE.substitute(
        title=escape(info.file_name),
        meta="" if page is None else meta_tags(info, page, download_abs),
        view=_view(info, src, media, kind, None if page is None else page.poster),
        player_urls=""
        if page is None or kind not in ("video", "audio")
        else player_urls(info, page),
        download_attachment=escape(f"{download_url}{sep}download=1", quote=True),
        download_name=escape(info.file_name, quote=True),
        download_abs=escape(download_abs, quote=True),
        players=players,
    )
