"""A typed client for the emulator's HTTP control API, for the tests, the bench and the demo.

It speaks only the API's routes and JSON (see the README's "The emulator"), never the
emulator's modules, so it holds for an emulator in another process and whatever its inside
looks like.  Answers are TypedDicts: typed for mypy, plain dicts for everyone else.  An
answer of 4xx or 5xx raises httpx.HTTPStatusError.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any, TypedDict, cast

import httpx

# Uploads of a few hundred MiB to a busy emulator take a while.
UPLOAD_TIMEOUT = 300.0
TIMEOUT = 30.0


class DcAddress(TypedDict):
    host: str
    port: int


class EmulatorConfig(TypedDict):
    """GET /config: everything a client needs to reach the emulated Telegram."""

    dcs: dict[str, DcAddress]
    home_dc: int
    rsa_public_key: str
    rsa_fingerprint: int
    api_id: int
    api_hash: str
    bot_token: str | None
    bot_tokens: list[str]
    bot_ids: list[int]
    bin_channel: int


class Thumb(TypedDict):
    """A document's thumbnail as the emulator keeps it: Telegram's size type ("s" or "m"),
    its dimensions and its length in bytes."""

    type: str
    w: int
    h: int
    size: int


class StoredFile(TypedDict):
    """POST /files: a document stored on a DC, outside any message."""

    file_id: str
    dc_id: int
    size: int
    id: int
    access_hash: int
    file_reference: str
    mime_type: str
    file_name: str
    thumb: Thumb | None


class PostedDocument(TypedDict):
    """POST /channels/{id}/documents: a message in the channel with the file."""

    message_id: int
    dc_id: int
    size: int
    file_id: str
    thumb: Thumb | None


class SentDocument(PostedDocument):
    """POST /users/{id}/documents: a user's private message to a bot, with the file."""

    bot_id: int


class SentText(TypedDict):
    message_id: int
    bot_id: int


class UserMessage(TypedDict):
    """GET /users/{id}/messages: what the bots sent that user."""

    id: int
    bot_id: int
    date: int
    text: str
    urls: list[str]
    reply_markup: Any
    has_media: bool
    reply_to: int | None


class ChannelFile(TypedDict):
    id: int
    dc_id: int
    size: int
    name: str
    gone: bool


class ChannelMessage(TypedDict):
    id: int
    text: str
    urls: list[str]
    reply_markup: Any
    file: ChannelFile | None


class Membership(TypedDict):
    channel_id: int
    user_id: int
    member: bool


Upload = bytes | IO[bytes] | Path


class ControlClient:
    """The control API at `url` (http://host:port), one short blocking call per method."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    # Plumbing ------------------------------------------------------------------------------

    def request(self, method: str, path: str, timeout: float = TIMEOUT, **kwargs: Any) -> Any:
        """The JSON answer of one call; HTTPStatusError on 4xx/5xx."""
        response = httpx.request(method, f"{self.url}{path}", timeout=timeout, **kwargs)
        response.raise_for_status()
        return response.json()

    def post_file(
        self, path: str, data: Upload, dc: int, name: str = "file.bin", **form: object
    ) -> Any:
        """POST a file to `path` as the upload routes take it: multipart `file`, `dc_id` and
        the form fields (None ones left out); a `thumb` field (bytes: a JPEG up to 320x320 px
        and under 200 kB) is sent as the document's thumbnail."""
        if isinstance(data, Path):
            with data.open("rb") as fh:
                return self.post_file(path, fh, dc, name, **form)
        fields = {"dc_id": str(dc)}
        files: dict[str, tuple[str, Any] | tuple[str, Any, str]] = {"file": (name, data)}
        for key, value in form.items():
            if key == "thumb" and isinstance(value, bytes):
                files["thumb"] = ("thumb.jpg", value, "image/jpeg")
            elif value is not None:
                fields[key] = str(value)
        return self.request("POST", path, UPLOAD_TIMEOUT, files=files, data=fields)

    # The emulator ----------------------------------------------------------------------------

    def healthy(self) -> bool:
        """Whether it answers /healthz now (no exception when it does not)."""
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def config(self) -> EmulatorConfig:
        return cast(EmulatorConfig, self.request("GET", "/config"))

    # Files and messages ----------------------------------------------------------------------

    def upload(self, data: Upload, dc: int, name: str = "file.bin", **form: object) -> StoredFile:
        """Store a file on `dc` (form fields: file_name, mime_type, kind, thumb)."""
        return cast(StoredFile, self.post_file("/files", data, dc, name, **form))

    def delete_file(self, file_id: str | int) -> dict[str, Any]:
        """The document itself is gone: getFile answers FILE_ID_INVALID."""
        return cast(dict[str, Any], self.request("DELETE", f"/files/{file_id}"))

    def post_to_channel(
        self, channel_id: int, data: Upload, dc: int, name: str = "file.bin", **form: object
    ) -> PostedDocument:
        """An admin posts a file (form fields: file_name, mime_type, kind, caption,
        declared_size, thumb)."""
        path = f"/channels/{channel_id}/documents"
        return cast(PostedDocument, self.post_file(path, data, dc, name, **form))

    def send_document(
        self, user_id: int, data: Upload, dc: int, name: str = "file.bin", **form: object
    ) -> SentDocument:
        """A user sends a bot a file (form fields as post_to_channel's, plus bot_id)."""
        path = f"/users/{user_id}/documents"
        return cast(SentDocument, self.post_file(path, data, dc, name, **form))

    def send_text(
        self, user_id: int, text: str, bot_id: int | None = None, reply_to: int | None = None
    ) -> SentText:
        """A user sends a bot a text message (a leading /command is marked as one), in reply
        to message `reply_to` of their chat (an id from send_* or messages_to) if given."""
        body: dict[str, object] = {"text": text}
        if bot_id is not None:
            body["bot_id"] = bot_id
        if reply_to is not None:
            body["reply_to"] = reply_to
        return cast(SentText, self.request("POST", f"/users/{user_id}/messages", json=body))

    def messages_to(self, user_id: int) -> list[UserMessage]:
        return cast(list[UserMessage], self.request("GET", f"/users/{user_id}/messages"))

    def channel_messages(self, channel_id: int) -> list[ChannelMessage]:
        path = f"/channels/{channel_id}/messages"
        return cast(list[ChannelMessage], self.request("GET", path))

    def channel_message(self, channel_id: int, message_id: int) -> ChannelMessage:
        path = f"/channels/{channel_id}/messages/{message_id}"
        return cast(ChannelMessage, self.request("GET", path))

    def delete_channel_message(self, channel_id: int, message_id: int) -> dict[str, Any]:
        path = f"/channels/{channel_id}/messages/{message_id}"
        return cast(dict[str, Any], self.request("DELETE", path))

    def set_member(self, channel_id: int, user_id: int, member: bool) -> Membership:
        """Add an account to the channel (as an admin) or remove it (CHANNEL_PRIVATE)."""
        method = "PUT" if member else "DELETE"
        path = f"/channels/{channel_id}/members/{user_id}"
        return cast(Membership, self.request(method, path))

    # Counters --------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Per-DC counters under "dcs" (by DC id as a string), and per-method tallies."""
        return cast(dict[str, Any], self.request("GET", "/stats"))

    def dc_stats(self, dc: int) -> dict[str, int]:
        return cast(dict[str, int], self.stats()["dcs"][str(dc)])

    def reset_stats(self) -> dict[str, Any]:
        return cast(dict[str, Any], self.request("POST", "/stats/reset"))

    # Faults ------------------------------------------------------------------------------------

    def faults(self) -> dict[str, Any]:
        return cast(dict[str, Any], self.request("GET", "/faults"))

    def set_faults(self, **patch: Any) -> dict[str, Any]:
        """POST /faults: merged into the current faults; answers the result."""
        return cast(dict[str, Any], self.request("POST", "/faults", json=patch))

    def clear_faults(self) -> dict[str, Any]:
        """Every fault off, every DC up."""
        return cast(dict[str, Any], self.request("DELETE", "/faults"))

    def shape_dc(
        self, dc: int, *, latency_ms: float | None = None, bandwidth_bps: int | None = None
    ) -> dict[str, Any]:
        """A DC's round trip and per-connection bandwidth (None leaves it as it is)."""
        patch = {"latency_ms": latency_ms, "bandwidth_bps": bandwidth_bps}
        return self.set_dc(dc, **{k: v for k, v in patch.items() if v is not None})

    def set_dc(self, dc: int, **settings: object) -> dict[str, Any]:
        """Any per-DC setting: latency_ms, bandwidth_bps, drop_probability,
        drop_after_bytes, down, hang."""
        return self.set_faults(dcs={str(dc): settings})

    def dc_down(self, dc: int, down: bool = True) -> dict[str, Any]:
        """The DC refuses connections (and drops the open ones), or is back up."""
        return self.set_dc(dc, down=down)

    def dc_up(self, dc: int) -> dict[str, Any]:
        return self.dc_down(dc, down=False)

    def account_bandwidth(self, bps: int | None) -> dict[str, Any]:
        """Bytes per second one account may receive across all its connections."""
        return self.set_faults(account_bandwidth_bps=bps)

    def flood_wait(
        self,
        method: str,
        seconds: int,
        *,
        dc: int | None = None,
        count: int | None = 1,
        user_id: int | None = None,
    ) -> dict[str, Any]:
        """The next `count` calls of `method` (TL name, e.g. "upload.getFile") get
        FLOOD_WAIT_`seconds` (count None: every call)."""
        rule = {"method": method, "seconds": seconds, "dc": dc, "count": count}
        return self.set_faults(flood_waits=[_with_user(rule, user_id)])

    def rpc_error(
        self,
        method: str,
        code: int,
        message: str,
        *,
        dc: int | None = None,
        count: int | None = 1,
        user_id: int | None = None,
        delay: float = 0,
    ) -> dict[str, Any]:
        """The next `count` calls of `method` are answered rpc_error(code, message), each
        held `delay` seconds first."""
        rule = {"method": method, "code": code, "message": message, "dc": dc, "count": count}
        if delay:
            rule["delay"] = delay
        return self.set_faults(rpc_errors=[_with_user(rule, user_id)])

    def corrupt_getfile(
        self, *, count: int | None = 1, dc: int | None = None, file_id: int | None = None
    ) -> dict[str, Any]:
        """The next `count` upload.getFile answers (count None: every one) on `dc`, for file
        `file_id` (a StoredFile id; None: any file), come with bytes flipped."""
        rule = {"count": count, "dc": dc, "file_id": file_id}
        return self.set_faults(corrupt_getfile=[rule])

    def rotate_file_references(self) -> dict[str, Any]:
        return self.set_faults(rotate_file_references=True)

    def revoke_authorizations(self, *dcs: int) -> dict[str, Any]:
        """Every auth key on those DCs is logged out: AUTH_KEY_UNREGISTERED next."""
        return self.set_faults(revoke_authorizations=list(dcs))


def _with_user(rule: dict[str, object], user_id: int | None) -> dict[str, object]:
    return rule if user_id is None else {**rule, "user_id": user_id}
