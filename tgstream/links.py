"""Signed download/watch links.

A link is only a message id plus an HMAC over it, so anyone holding a link can
stream that one file and nobody can enumerate the others by changing the id.
The file name in the path is cosmetic (it names the download in the browser)
and is deliberately not signed: renaming a link must not break it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote

__all__ = ["download_path", "public_url", "sign", "verify", "watch_path"]

# Binds signatures to this purpose, so an HMAC the same secret makes for
# anything else can never pass as a link signature.
_LABEL = b"tgstream-link:"
# Unpadded base64 of a full 32-byte HMAC-SHA256.
_SIG_CHARS = 43


def sign(message_id: int, secret: str) -> str:
    """URL-safe, unpadded base64 of HMAC-SHA256(secret, label + decimal id); 43 chars.

    The full 32-byte MAC is kept: the signature is the only thing guarding a
    file, and 43 characters in a URL cost nothing.
    """
    if not secret:
        # An empty key makes every signature public knowledge.
        raise ValueError("the link secret must not be empty")
    mac = hmac.new(secret.encode(), _LABEL + str(message_id).encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def verify(message_id: int, sig: str | None, secret: str) -> bool:
    """Whether ``sig`` is the signature of ``message_id``; False for any malformed input.

    The comparison is on the canonical text, not on decoded bytes: base64
    decoders ignore the spare low bits of the last character, so several
    strings decode to the same MAC and only the one ``sign`` produces may pass.
    """
    if not secret or not isinstance(sig, str) or len(sig) != _SIG_CHARS or not sig.isascii():
        return False
    return hmac.compare_digest(sign(message_id, secret).encode(), sig.encode())


def _quoted_name(file_name: str) -> str:
    # Names come from Telegram and may hold lone surrogates that UTF-8 cannot
    # encode; the name is cosmetic, so those become "?" rather than an error.
    quoted = quote(file_name or "file", safe="", errors="replace")
    # "." and ".." would be dot segments that clients resolve away (RFC 3986 §5.2.4), taking
    # the name segment with them; %2E does not help, WHATWG URL parsers treat it as a dot too.
    return "file" if quoted in (".", "..") else quoted


def download_path(message_id: int, file_name: str, secret: str) -> str:
    """``/dl/{id}/{percent-encoded name}?sig=...``; an empty name becomes ``file``."""
    return f"/dl/{message_id}/{_quoted_name(file_name)}?sig={sign(message_id, secret)}"


def watch_path(message_id: int, file_name: str, secret: str) -> str:
    """``/watch/{id}/{percent-encoded name}?sig=...``; an empty name becomes ``file``."""
    return f"/watch/{message_id}/{_quoted_name(file_name)}?sig={sign(message_id, secret)}"


def public_url(base: str, path: str) -> str:
    """Join a public base URL (possibly with a path prefix) and an absolute path.

    Exactly one slash ends up between them, whether or not ``base`` ends with
    one or ``path`` starts with one.
    """
    return f"{base.rstrip('/')}/{path.lstrip('/')}"
