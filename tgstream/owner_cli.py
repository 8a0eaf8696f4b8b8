"""What `tgstream link`, `revoke` and `unrevoke` do with the running configuration: read
and write the state the servers share (SQLite in SESSION_DIR, or Redis), and ask the
running server to resolve a message the state does not know yet.  The CLI never calls
Telegram itself: the server's bots hold the sessions, and a second user of one session
would break it."""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.request
from email.message import Message

from . import links
from .config import Settings
from .store import SharedStateDown, StateStore, StoreUnavailable, open_store

# A first resolve may wait on Telegram up to the server's own first-byte deadline.
_SERVER_TIMEOUT = 60.0


class NameUnknown(Exception):
    """Said in one line: why the file's name could not be found."""


def _open(settings: Settings) -> StateStore:
    return open_store(settings.state_url, settings.session_dir, settings.state_timeout)


def local_url(settings: Settings) -> str:
    """Where this configuration's server listens, seen from this machine."""
    host = settings.bind_address
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "[::1]"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def name_of_disposition(value: str | None) -> str | None:
    """The file name a Content-Disposition header gives (RFC 6266: filename* first)."""
    if not value:
        return None
    header = Message()
    header["content-disposition"] = value
    name = header.get_filename()
    return name or None


async def _stored_name(settings: Settings, message_id: int) -> str | None:
    try:
        store = _open(settings)
    except StoreUnavailable:
        return None
    try:
        with contextlib.suppress(SharedStateDown):
            found = await store.file(message_id)
            if found is not None:
                return found[0].file_name
        return None
    finally:
        await store.close()


def _asked_name(settings: Settings, message_id: int) -> str:
    secret = settings.secret.get_secret_value()
    url = local_url(settings) + links.download_path(message_id, "file", secret)
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=_SERVER_TIMEOUT) as answer:
            name = name_of_disposition(answer.headers.get("content-disposition"))
    except urllib.error.HTTPError as exc:
        why = {404: "no such file in the bin channel", 410: "its links are revoked"}
        reason = why.get(exc.code, f"the server answered {exc.code}")
        raise NameUnknown(f"message {message_id}: {reason}") from None
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        cause = getattr(exc, "reason", None) or exc
        raise NameUnknown(
            f"message {message_id} is not in the state yet, and finding its file name needs "
            f"Telegram through the running server, which is not reachable at "
            f"{local_url(settings)} ({cause})"
        ) from None
    if name is None:
        raise NameUnknown(f"message {message_id}: the server named no file")
    return name


async def file_name(settings: Settings, message_id: int) -> str:
    """The message's real file name: from the state, else from the running server (which
    resolves it with Telegram, and keeps it for the next time)."""
    name = await _stored_name(settings, message_id)
    if name is not None:
        return name
    import asyncio

    return await asyncio.to_thread(_asked_name, settings, message_id)


async def set_revoked(settings: Settings, message_id: int, revoked: bool) -> str | None:
    """Revoke or restore the message's links in the state; None, or why it failed."""
    try:
        store = _open(settings)
    except StoreUnavailable as exc:
        return str(exc)
    try:
        failures = store.write_failures
        await store.set_revoked(message_id, revoked)
        if store.write_failures != failures:
            return f"could not write to {store.describe()}; nothing changed"
        try:
            if await store.is_revoked(message_id) != revoked:
                return f"{store.describe()} did not keep it; nothing changed"
        except SharedStateDown as exc:
            return f"{store.describe()} is not reachable ({exc})"
        return None
    finally:
        await store.close()
