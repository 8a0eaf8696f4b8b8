"""The watch page: the browser's own player for video and audio, with buttons that hand
the link to a desktop or phone player; an image view for photos; a file card for anything
else.  Its CSS and JS are served by tgstream itself (static/), its headers are
pages.page_headers.  Pure: the file's facts and its URLs in, HTML out; every value that
came from Telegram or the request is escaped where it is put in."""

from __future__ import annotations

from html import escape
from string import Template
from urllib.parse import quote

from ..sizes import human_size
from ..store import FileInfo
from ..telegram.metadata import clean_media_type
from .pages import PAGE_HEAD
from .previews import PageLinks, meta_tags, player_urls

__all__ = ["player_links", "render"]

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


def _view(info: FileInfo, src: str, poster: str | None = None) -> str:
    """The file itself: a player (a video with its thumbnail as poster), an image, or (no
    browser view for it) a card."""
    name = escape(info.file_name)
    meta = f'<p class="meta">{human_size(info.size)} · {escape(info.mime_type)}</p>'
    mime = info.mime_type
    if mime.startswith("video/"):
        shown = "" if poster is None else f' poster="{escape(poster, quote=True)}"'
        player = (
            f'<video id="player" controls preload="metadata" playsinline{shown} '
            f'src="{src}" type="{escape(mime, quote=True)}"></video>'
        )
    elif mime.startswith("audio/"):
        player = f'<audio id="player" controls preload="metadata" src="{src}"></audio>'
    elif mime.startswith("image/"):
        player = f'<img id="player" src="{src}" alt="{escape(info.file_name, quote=True)}">'
    else:
        return f'<div class="file-card">{_FILE_ICON}\n<h1>{name}</h1>\n{meta}</div>'
    return f'<div class="player">{player}</div>\n<h1>{name}</h1>\n{meta}'


def render(
    info: FileInfo, download_url: str, download_abs: str, page: PageLinks | None = None
) -> str:
    """The page of `info`; `download_url` is its /dl path (the player's source, inline),
    `download_abs` the same as an absolute URL (Copy link, the players' buttons); `page`
    its other links (poster, link-preview tags, playlist and HLS links), when given."""
    src = escape(download_url, quote=True)
    sep = "&" if "?" in download_url else "?"
    players = ""
    if info.mime_type.startswith(("video/", "audio/")):
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
        view=_view(info, src, None if page is None else page.poster),
        player_urls="" if page is None else player_urls(info, page),
        download_attachment=escape(f"{download_url}{sep}download=1", quote=True),
        download_name=escape(info.file_name, quote=True),
        download_abs=escape(download_abs, quote=True),
        players=players,
    )
