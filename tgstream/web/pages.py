"""Pages for people: the HTML a browser gets for an error and for `/`, and how a request
says it is a browser.  Pure: strings in, strings out.

Everything shown that did not come from this file (an error's detail, a bot's name) is
HTML-escaped where it is put in; the templates are stdlib string.Template, whose `$name`
substitution escapes nothing by itself, so only escaped values are ever passed to it.
"""

from __future__ import annotations

import re
from html import escape
from http import HTTPStatus
from string import Template

__all__ = ["error_page", "landing_page", "page_headers", "prefers_html"]


def page_headers(frame_ancestors: str) -> dict[str, str]:
    """The security headers of every page tgstream serves (watch, error, landing): its
    own CSS, JS and media only, nothing inline, embeddable only where FRAME_ANCESTORS says.
    Media may also come from blob: URLs, which is how a page's own script (hls.js) hands a
    Media Source to the player."""
    return {
        "Content-Security-Policy": "default-src 'self'; media-src 'self' blob:; img-src 'self'; "
        "style-src 'self'; script-src 'self'; base-uri 'none'; form-action 'none'; "
        f"frame-ancestors {frame_ancestors}",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


# --- content negotiation (RFC 9110 §12.5.1) ----------------------------------------

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_RANGE = re.compile(rf"({_TOKEN})/({_TOKEN})")
_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


def _ranges(accept: str) -> list[tuple[str, str, float]]:
    """(type, subtype, q) of each well-formed element of an Accept value; malformed
    elements are skipped, as a list parser may (§5.6.1)."""
    ranges = []
    for element in accept.split(","):
        parts = [p.strip(" \t") for p in element.split(";")]
        match = _MEDIA_RANGE.fullmatch(parts[0])
        if match is None:
            continue
        q = 1.0
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip(" \t").lower() == "q":
                value = value.strip(" \t")
                q = float(value) if _QVALUE.fullmatch(value) else -1.0
        if q >= 0:
            ranges.append((match[1].lower(), match[2].lower(), q))
    return ranges


def _quality(ranges: list[tuple[str, str, float]], kind: str, subtype: str) -> float:
    """The q the most specific matching range gives kind/subtype; 0 when none matches."""
    best, specificity = 0.0, -1
    for r_kind, r_sub, q in ranges:
        if r_kind == kind and r_sub == subtype:
            rank = 2
        elif r_kind == kind and r_sub == "*":
            rank = 1
        elif r_kind == "*" and r_sub == "*":
            rank = 0
        else:
            continue
        if rank > specificity or (rank == specificity and q > best):
            best, specificity = q, rank
    return best


def prefers_html(accept: str | None) -> bool:
    """Whether a client with this Accept would rather have HTML than JSON.

    Only a client that ranks text/html above application/json: a browser navigating
    (``text/html,...,*/*;q=0.8``).  No Accept, ``*/*`` alone (curl, players, scripts), a
    tie, or anything that names JSON at least as highly keeps the JSON it got so far.
    """
    if not accept:
        return False
    ranges = _ranges(accept)
    html = _quality(ranges, "text", "html")
    return html > 0 and html > _quality(ranges, "application", "json")


# --- the pages ----------------------------------------------------------------------

# Every page's head (the watch page's too): its title ($title, escaped by the caller) and the
# one stylesheet, served by tgstream itself.
PAGE_HEAD = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>$title · tgstream</title>
<link rel="stylesheet" href="/static/watch.css">
</head>
<body>
"""

_PAGE = Template(
    PAGE_HEAD
    + """<main class="page">
<div class="notice $tone">
<div class="badge" aria-hidden="true">$badge</div>
<h1>$title</h1>
$body
</div>
<footer>$footer</footer>
</main>
</body>
</html>
"""
)

# What each status means to someone who opened a link: a title and what to do about it.
_ERRORS: dict[int, tuple[str, str]] = {
    400: (
        "This link is malformed",
        "Part of the address is not what a link of this service "
        "looks like. Copy the whole link again from the bot's message.",
    ),
    403: (
        "This link is not valid",
        "The link is incomplete or was changed. Copy the whole link again from the bot's message.",
    ),
    404: ("File not found", "There is no file at this address, or it was deleted from Telegram."),
    410: (
        "This link no longer works",
        "It has expired, or its owner revoked it. Ask the person who shared it for a new link.",
    ),
    416: (
        "That part of the file does not exist",
        "The player asked for bytes beyond the "
        "end of the file. Reload the page to start from the beginning.",
    ),
    429: ("Too many requests", "Too many requests came from your network in a short time."),
    500: ("Something went wrong", "The server failed to answer this request. Please try again."),
    502: (
        "Telegram refused the request",
        "Telegram would not hand out this file. Please try again later.",
    ),
    503: ("Temporarily unavailable", "Telegram is busy or the service is still starting."),
}


def _retry_text(retry_after: str | None) -> str:
    if retry_after is None or not retry_after.isdigit():
        return ""
    seconds = int(retry_after)
    when = "a moment" if seconds <= 1 else f"{seconds:,} seconds"
    if seconds >= 120:
        when = f"about {round(seconds / 60):,} minutes"
    return f'<p class="retry">Try again in {when}.</p>'


def error_page(status: int, detail: str, retry_after: str | None = None) -> str:
    """The page of an HTTP error: what happened in words, the server's own detail
    (escaped: it may repeat what the request said), and when to retry if it says so."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    title, advice = _ERRORS.get(status, (phrase, "The request could not be answered."))
    body = [f"<p>{escape(advice)}</p>", _retry_text(retry_after)]
    if detail and detail.lower() != phrase.lower():
        body.append(f'<p class="meta">{status} {escape(phrase)}: {escape(detail)}</p>')
    else:
        body.append(f'<p class="meta">{status} {escape(phrase)}</p>')
    return _PAGE.substitute(
        title=escape(title),
        tone="bad" if status >= 500 else "warn",
        badge=str(status),
        body="\n".join(part for part in body if part),
        footer='<a href="/">tgstream</a>',
    )


def landing_page(bot_username: str | None, ready: bool) -> str:
    """`/` for people: the service is up, and where its bot is (or that it is starting)."""
    if bot_username:
        handle = escape(bot_username)
        link = escape(f"https://t.me/{bot_username}", quote=True)
        bot = (
            f"<p>Send a file to <strong>@{handle}</strong> on Telegram and it answers with a "
            "download link and a watch page that play, seek and resume in any browser or "
            "player.</p>\n"
            f'<div class="actions"><a class="button primary" href="{link}">Open @{handle} '
            "in Telegram</a></div>"
        )
    else:
        bot = (
            "<p>The bot is starting: its Telegram link appears here once it has signed in. "
            "Reload in a moment.</p>"
        )
    state = "Ready" if ready else "Starting"
    return _PAGE.substitute(
        title="tgstream is up",
        tone="ok" if ready else "warn",
        badge="&#10003;" if ready else "&#8230;",
        body=f'{bot}\n<p class="meta">Status: {state}</p>',
        footer="Streams files stored in Telegram over HTTP.",
    )
