"""Signed download/watch links.

A link is only a message id plus an HMAC over it, so anyone holding a link can
stream that one file and nobody can enumerate the others by changing the id.
The file name in the path is cosmetic (it names the download in the browser)
and is deliberately not signed: renaming a link must not break it.

A link may also carry its own end: ``?exp=<unix seconds>&sig=…``, where the MAC covers
the id and that time under a label of its own.  The server keeps nothing per link: the
time is read from the URL and trusted only because the MAC covers it.  Links without
``exp`` are the original form and never end (every link issued before expiry existed
keeps working); revoking every link of a message is the store's business, not this one's.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
from urllib.parse import parse_qsl, quote

__all__ = [
    "MAX_LIFETIME",
    "LinkState",
    "check",
    "download_path",
    "hls_path",
    "m3u_path",
    "message_of",
    "parse_duration",
    "public_url",
    "sign",
    "sign_expiring",
    "thumb_path",
    "verify",
    "watch_path",
]

# Binds signatures to this purpose, so an HMAC the same secret makes for
# anything else can never pass as a link signature.
_LABEL = b"tgstream-link:"
# A label of its own for links that end: a never-ending link's signature can never pass
# as an ending one's (or the reverse), whatever the id and time.
_EXPIRING_LABEL = b"tgstream-link-exp:"
# Unpadded base64 of a full 32-byte HMAC-SHA256.
_SIG_CHARS = 43
# An end time is canonical decimal unix seconds, at most 11 digits (year 5138): anything
# else in `exp` is not one this module wrote, so the link is refused as forged.
_EXP = re.compile(r"[1-9][0-9]{0,10}")
# The longest lifetime a link may be given: ten years.  Longer is what a link without an
# end is for.
MAX_LIFETIME = 10 * 365 * 86400


class LinkState(enum.Enum):
    VALID = "valid"
    FORGED = "forged"  # not signed by us: wrong, altered or malformed
    EXPIRED = "expired"  # signed by us, and its time is over


def _mac(secret: str, message: bytes) -> str:
    if not secret:
        # An empty key makes every signature public knowledge.
        raise ValueError("the link secret must not be empty")
    mac = hmac.new(secret.encode(), message, hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def sign(message_id: int, secret: str) -> str:
    """URL-safe, unpadded base64 of HMAC-SHA256(secret, label + decimal id); 43 chars.

    The full 32-byte MAC is kept: the signature is the only thing guarding a
    file, and 43 characters in a URL cost nothing.
    """
    return _mac(secret, _LABEL + str(message_id).encode())


def sign_expiring(message_id: int, expires: int, secret: str) -> str:
    """The signature of a link that ends at `expires` (unix seconds): HMAC-SHA256 over
    the expiring label, the decimal id, ":" and the decimal time.  The ":" keeps (12, 345)
    and (123, 45) apart."""
    if not _EXP.fullmatch(str(expires)):
        raise ValueError(f"an expiry must be unix seconds from 1 to 11 digits, got {expires!r}")
    return _mac(secret, _EXPIRING_LABEL + f"{message_id}:{expires}".encode())


def _same(expected: str, sig: str | None) -> bool:
    # The comparison is on the canonical text, not on decoded bytes: base64 decoders ignore
    # the spare low bits of the last character, so several strings decode to the same MAC
    # and only the one we produce may pass.
    if not isinstance(sig, str) or len(sig) != _SIG_CHARS or not sig.isascii():
        return False
    return hmac.compare_digest(expected.encode(), sig.encode())


def verify(message_id: int, sig: str | None, secret: str) -> bool:
    """Whether ``sig`` is the signature of ``message_id``; False for any malformed input."""
    return bool(secret) and _same(sign(message_id, secret), sig)


def check(message_id: int, sig: str | None, exp: str | None, secret: str, now: float) -> LinkState:
    """What a link's query says, given the wall-clock time `now`: VALID, FORGED (any
    malformed, altered or foreign signature or time) or EXPIRED (ours, and `now` is at or
    past its end).  Never raises."""
    if not secret:
        return LinkState.FORGED
    if exp is None:
        return LinkState.VALID if verify(message_id, sig, secret) else LinkState.FORGED
    if not isinstance(exp, str) or not _EXP.fullmatch(exp):
        return LinkState.FORGED
    if not _same(sign_expiring(message_id, int(exp), secret), sig):
        return LinkState.FORGED
    return LinkState.EXPIRED if now >= int(exp) else LinkState.VALID


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(?:[0-9]{1,9}[smhdw])+|[0-9]{1,10}")
_PART = re.compile(r"([0-9]+)([smhdw])")


def parse_duration(text: str) -> int:
    """Seconds of a lifetime as people write it: ``90`` (seconds), ``90m``, ``24h``,
    ``7d``, ``2w``, or parts together (``1d12h``); case and surrounding blanks ignored.
    ValueError (one line, fit to show) for anything else, zero, or over MAX_LIFETIME."""
    cleaned = text.strip().lower()
    if not _DURATION.fullmatch(cleaned):
        raise ValueError(f"not a duration: {text[:40]!r} (write e.g. 3600, 90m, 24h, 7d or 1d12h)")
    if cleaned.isdigit():
        seconds = int(cleaned)
    else:
        seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(cleaned))
    if seconds <= 0:
        raise ValueError("a duration must be longer than zero")
    if seconds > MAX_LIFETIME:
        raise ValueError("a duration must be at most ten years (3650d)")
    return seconds


def _quoted_name(file_name: str) -> str:
    # Names come from Telegram and may hold lone surrogates that UTF-8 cannot
    # encode; the name is cosmetic, so those become "?" rather than an error.
    quoted = quote(file_name or "file", safe="", errors="replace")
    # "." and ".." would be dot segments that clients resolve away (RFC 3986 §5.2.4), taking
    # the name segment with them; %2E does not help, WHATWG URL parsers treat it as a dot too.
    return "file" if quoted in (".", "..") else quoted


def _query(message_id: int, secret: str, expires: int | None) -> str:
    if expires is None:
        return f"sig={sign(message_id, secret)}"
    return f"exp={expires}&sig={sign_expiring(message_id, expires, secret)}"


def download_path(message_id: int, file_name: str, secret: str, expires: int | None = None) -> str:
    """``/dl/{id}/{percent-encoded name}?sig=...`` (``?exp=...&sig=...`` for a link that
    ends at `expires`, unix seconds); an empty name becomes ``file``."""
    return f"/dl/{message_id}/{_quoted_name(file_name)}?{_query(message_id, secret, expires)}"


def watch_path(message_id: int, file_name: str, secret: str, expires: int | None = None) -> str:
    """``/watch/{id}/{percent-encoded name}?sig=...``, as download_path."""
    return f"/watch/{message_id}/{_quoted_name(file_name)}?{_query(message_id, secret, expires)}"


def thumb_path(message_id: int, secret: str, expires: int | None = None) -> str:
    """``/thumb/{id}.jpg?sig=...``: the file's thumbnail, signed as its links are (a page's
    poster ends when the page's link does)."""
    return f"/thumb/{message_id}.jpg?{_query(message_id, secret, expires)}"


def m3u_path(message_id: int, file_name: str, secret: str, expires: int | None = None) -> str:
    """``/m3u/{id}/{percent-encoded name}.m3u?sig=...``: a one-entry playlist of the file
    that players open directly, signed as download_path."""
    query = _query(message_id, secret, expires)
    return f"/m3u/{message_id}/{_quoted_name(file_name)}.m3u?{query}"


def hls_path(message_id: int, secret: str, expires: int | None = None) -> str:
    """``/hls/{id}/index.m3u8?sig=...``: the file as an HLS stream, signed as download_path."""
    return f"/hls/{message_id}/index.m3u8?{_query(message_id, secret, expires)}"


_LINK_PATH = re.compile(r"/(?:dl|watch)/([1-9][0-9]{0,18})/[^/?#]+")


def message_of(url: str, secret: str) -> int | None:
    """The message id a link of ours names (expired or not), or None for any URL that is
    not one: another path, a foreign or altered signature."""
    route, _, query = url.partition("?")
    found = _LINK_PATH.search(route)
    if found is None or not route.endswith(found.group(0)):
        return None
    params = dict(parse_qsl(query.partition("#")[0]))
    message_id = int(found.group(1))
    state = check(message_id, params.get("sig"), params.get("exp"), secret, now=0.0)
    return None if state is LinkState.FORGED else message_id


def public_url(base: str, path: str) -> str:
    """Join a public base URL (possibly with a path prefix) and an absolute path.

    Exactly one slash ends up between them, whether or not ``base`` ends with
    one or ``path`` starts with one.
    """
    return f"{base.rstrip('/')}/{path.lstrip('/')}"
