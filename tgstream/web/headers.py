"""Response header values of a file body: pure functions.  (Its validators, ETag and
Last-Modified, are in conditional.py with the rules that compare them.)"""

from __future__ import annotations

from urllib.parse import quote


def _ascii_fallback(name: str) -> str:
    kept = []
    for ch in name:
        if ch in '"\\' or ord(ch) < 0x20 or ord(ch) >= 0x7F:
            kept.append("_")
        else:
            kept.append(ch)
    return "".join(kept) or "file"


def content_disposition(name: str, attachment: bool) -> str:
    """RFC 6266: a quoted ASCII fallback plus the exact name as RFC 8187 filename*."""
    cleaned = name.replace("/", "_").replace("\\", "_").strip() or "file"
    kind = "attachment" if attachment else "inline"
    return (
        f'{kind}; filename="{_ascii_fallback(cleaned)}"; '
        f"filename*=UTF-8''{quote(cleaned, safe='')}"
    )


# Types a browser would run as a page of this origin (scripts, forms, cookies) if shown inline.
_ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/javascript",
        "application/javascript",
        "application/pdf",
    }
)


def is_active_content(mime_type: str) -> bool:
    """Whether a file of this type, opened inline, could run script on tgstream's origin.
    Anyone can send the bot a file, so such files are only ever served as downloads."""
    base = mime_type.split(";", 1)[0].strip().lower()
    return base in _ACTIVE_TYPES or base.endswith(("+xml", "/html"))


def file_security_headers() -> dict[str, str]:
    """Sent with every file body: no sniffing into an active type, and were it shown as a
    document anyway, a sandbox with no script, no forms and an opaque origin."""
    return {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}
