"""The watch page: the browser's own player for video and audio, an image view for photos,
a download card for anything else.  Its CSS and JS are served by tgstream itself."""

from __future__ import annotations

from html import escape

from ..sizes import human_size
from ..store import FileInfo

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title} · tgstream</title>
<link rel="stylesheet" href="/static/watch.css">
</head>
<body>
<main>
<div class="player">{player}</div>
<h1>{title}</h1>
<p class="meta">{size} · {mime}</p>
<div class="actions">
<a class="button primary" href="{download_attachment}" download>Download</a>
<button class="button" id="copy-link" type="button" data-link="{download_abs}">Copy link</button>
</div>
<p class="hint" id="copy-hint" aria-live="polite"></p>
<footer>Served by tgstream. Seeking and resumed downloads work in any player.</footer>
</main>
<script src="/static/watch.js" defer></script>
</body>
</html>
"""


def render(info: FileInfo, download_url: str, download_abs: str) -> str:
    src = escape(download_url, quote=True)
    mime = info.mime_type
    if mime.startswith("video/"):
        player = (
            f'<video id="player" controls preload="metadata" playsinline '
            f'src="{src}" type="{escape(mime, quote=True)}"></video>'
        )
    elif mime.startswith("audio/"):
        player = f'<audio id="player" controls preload="metadata" src="{src}"></audio>'
    elif mime.startswith("image/"):
        player = f'<img id="player" src="{src}" alt="{escape(info.file_name, quote=True)}">'
    else:
        player = f'<div class="card">{escape(info.file_name)}<br>{human_size(info.size)}</div>'
    sep = "&" if "?" in download_url else "?"
    return _PAGE.format(
        title=escape(info.file_name),
        player=player,
        size=human_size(info.size),
        mime=escape(mime),
        download_attachment=escape(f"{download_url}{sep}download=1", quote=True),
        download_abs=escape(download_abs, quote=True),
    )
