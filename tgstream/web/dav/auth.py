"""HTTP Basic authentication of the WebDAV view (RFC 7617), pure: the Authorization
header and DAV_USERS in, the user out.

Every configured pair is compared, each in constant time, so neither a user name nor a
password shows in how long a refusal takes.  Nothing here logs or returns a password.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping

from pydantic import SecretStr

__all__ = ["CHALLENGE", "authenticated_user"]

CHALLENGE = 'Basic realm="tgstream", charset="UTF-8"'


def _credentials(header: str | None) -> tuple[bytes, bytes] | None:
    if header is None:
        return None
    scheme, _, token = header.strip(" \t").partition(" ")
    if scheme.lower() != "basic" or len(token) > 4096:
        return None
    try:
        decoded = base64.b64decode(token.strip(" \t"), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    return (user, password) if colon else None


def authenticated_user(header: str | None, users: Mapping[str, SecretStr]) -> str | None:
    """The user the Authorization header proves, or None."""
    given = _credentials(header)
    if given is None:
        return None
    found: str | None = None
    for user, password in users.items():
        same_user = hmac.compare_digest(given[0], user.encode())
        same_password = hmac.compare_digest(given[1], password.get_secret_value().encode())
        if same_user and same_password:
            found = user
    return found
