"""What the watch page offers beside the player: the poster, the link-preview tags (Open Graph
and Twitter cards, read by chat apps when a watch link is pasted), and links that players open
directly (an M3U playlist, the HLS stream).  Pure: the file's facts and its URLs in, HTML or
playlist text out; every value that came from Telegram or the request is escaped where it is
put in."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from .. import links
from ..sizes import human_size
from ..store import FileInfo

__all__ = [
    "DIRECT_PLAYABLE",
    "M3U_TYPE",
    "PageLinks",
    "meta_tags",
    "page_links",
    "player_urls",
    "playlist",
]

# Media types a browser (and a chat app's inline player) plays from the download link as it
# is; og:video is offered for these only.
DIRECT_PLAYABLE = frozenset({"video/mp4", "video/webm"})
# The media type VLC, mpv and Kodi take an M3U playlist by.
M3U_TYPE = "audio/x-mpegurl"


@dataclass(frozen=True, slots=True)
class PageLinks:
    """The watch page's URLs besides its download link, each signed as the page's own link
    (ending when it does).  Absolute ones are for other programs (a chat app's preview, a
    player); the poster is fetched by the page itself."""

    page_abs: str
    poster: str | None  # the thumbnail, relative; None when the file has none
    poster_abs: str | None
    m3u_abs: str
    hls_abs: str


def page_links(info: FileInfo, secret: str, expires: int | None, public_url: str) -> PageLinks:
    message_id = info.message_id
    poster = links.thumb_path(message_id, secret, expires) if info.has_thumb else None
    return PageLinks(
        page_abs=links.public_url(
            public_url, links.watch_path(message_id, info.file_name, secret, expires)
        ),
        poster=poster,
        poster_abs=None if poster is None else links.public_url(public_url, poster),
        m3u_abs=links.public_url(
            public_url, links.m3u_path(message_id, info.file_name, secret, expires)
        ),
        hls_abs=links.public_url(public_url, links.hls_path(message_id, secret, expires)),
    )


def _meta(attribute: str, name: str, content: str) -> str:
    return f'<meta {attribute}="{name}" content="{escape(content, quote=True)}">'


def meta_tags(info: FileInfo, page: PageLinks, download_abs: str) -> str:
    """The head's Open Graph and Twitter card tags: title, what the file is and its size,
    its picture (the thumbnail; a photo is its own), and for a file a browser plays as it
    is, the video itself."""
    mime = info.mime_type
    description = f"{human_size(info.size)} · {mime}"
    image = download_abs if info.is_photo else page.poster_abs
    if mime.startswith("video/"):
        kind = "video.other"
    elif mime.startswith("audio/"):
        kind = "music.song"
    else:
        kind = "website"
    tags = [
        _meta("property", "og:site_name", "tgstream"),
        _meta("property", "og:type", kind),
        _meta("property", "og:title", info.file_name),
        _meta("property", "og:description", description),
        _meta("property", "og:url", page.page_abs),
    ]
    if image is not None:
        tags += [
            _meta("property", "og:image", image),
            _meta("property", "og:image:type", "image/jpeg"),
            _meta("property", "og:image:alt", info.file_name),
        ]
    if mime in DIRECT_PLAYABLE:
        tags += [
            _meta("property", "og:video", download_abs),
            _meta("property", "og:video:type", mime),
        ]
        if download_abs.startswith("https:"):
            tags.append(_meta("property", "og:video:secure_url", download_abs))
    tags += [
        _meta("name", "twitter:card", "summary_large_image" if image else "summary"),
        _meta("name", "twitter:title", info.file_name),
        _meta("name", "twitter:description", description),
    ]
    if image is not None:
        tags.append(_meta("name", "twitter:image", image))
    return "\n".join(tags) + "\n"


def player_urls(info: FileInfo, page: PageLinks) -> str:
    """The M3U playlist and HLS stream links (absolute: copied into a player as they are);
    the page shows them for audio and video (by the probe's tracks, else the media type)."""
    m3u = escape(page.m3u_abs, quote=True)
    download_name = escape(f"{info.file_name}.m3u", quote=True)
    hls = escape(page.hls_abs, quote=True)
    return (
        '<p class="meta">Or give a player (VLC, mpv, Kodi) one of these links:</p>\n'
        '<div class="actions players">\n'
        f'<a class="button" id="m3u-link" href="{m3u}" download="{download_name}" '
        'type="audio/x-mpegurl">Playlist (M3U)</a>\n'
        f'<a class="button" id="hls-link" href="{hls}" type="application/vnd.apple.mpegurl">'
        "HLS stream</a>\n"
        "</div>"
    )


def _one_line(text: str) -> str:
    # A playlist's lines end at CR or LF: a name holding one would start a line of its own
    # (an entry the sender chose).  Other control characters go too.
    return "".join(" " if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text).strip()


def playlist(title: str, url: str, duration: int | None = None) -> str:
    """An extended M3U playlist of one entry: its title (one line) and the absolute URL;
    the length in seconds when known, else -1 as the format says for unknown."""
    seconds = -1 if duration is None else duration
    return f"#EXTM3U\n#EXTINF:{seconds},{_one_line(title) or 'file'}\n{url}\n"
