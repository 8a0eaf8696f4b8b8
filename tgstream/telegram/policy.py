"""The failure policy: what tgstream does about each outcome of each Telegram call it makes.

Pure: an outcome (an RPC error's code and message, a timeout, a lost connection) and the
situation (is another bot free, how often has this call failed already) go in; one decision
comes out.  The callers (downloader, resolver, DC registry, bot start-up, bot replies) only
carry decisions out, so every rule lives here, in one table that the tests walk row by row.

Sources: each method's "Possible errors" on core.telegram.org/method/…, and
core.telegram.org/api/errors for the classes (303 migrate, 400 bad request, 401
unauthorized, 406 not acceptable, 420 flood, 500 internal, -503 timeout).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

# The calls tgstream makes, named as in the TL schema.
GET_FILE = "upload.getFile"
GET_MESSAGES = "channels.getMessages"
EXPORT_AUTHORIZATION = "auth.exportAuthorization"
IMPORT_AUTHORIZATION = "auth.importAuthorization"
SIGN_IN = "auth.importBotAuthorization"
SEND_MESSAGE = "messages.sendMessage"
SEND_MEDIA = "messages.sendMedia"
METHODS = (
    GET_FILE,
    GET_MESSAGES,
    EXPORT_AUTHORIZATION,
    IMPORT_AUTHORIZATION,
    SIGN_IN,
    SEND_MESSAGE,
    SEND_MEDIA,
)

# A failed call is tried this many times in all before it is given up as unavailable.
MAX_ATTEMPTS = 4
# Retry-After for failures that carry no wait of their own (a DC down, retries used up).
UNAVAILABLE_RETRY_AFTER = 5
# 420 without a readable number of seconds: wait a little rather than hammer.
DEFAULT_FLOOD_SECONDS = 5


class Action(Enum):
    RETRY = "retry"  # transient: the same call again after a short backoff
    REFRESH_REFERENCE = "refresh the reference"  # refetch the message, retry with it
    LEARN_DC = "learn the DC"  # remember where the file lives, retry there
    SLEEP = "sleep"  # wait `seconds` on this bot, then retry
    FAIL_OVER = "fail over"  # bench this bot for `seconds`, retry on another one
    RESET_POOL = "reset the pool"  # drop the connections (and key) of that DC, build anew
    RECHECK = "recheck the message"  # a file error: validate the message, then retry once
    NOT_FOUND = "404"  # the file or message does not exist
    UNAVAILABLE = "503"  # not now: 503 with Retry-After `seconds` (abort once streaming)
    ABORT = "abort"  # cannot be helped by waiting: fail this request (502, or abort)
    DISABLE_BOT = "disable the bot"  # the bot's credentials are refused: stop using it


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a call ended with, other than success."""

    code: int
    message: str

    @property
    def name(self) -> str:
        """The message with its number turned into X: FLOOD_WAIT_65 -> FLOOD_WAIT_X."""
        return _NUMBER.sub("_X", self.message)

    @property
    def value(self) -> int | None:
        found = _NUMBER.search(self.message)
        return int(found.group(1)) if found else None


_NUMBER = re.compile(r"_(\d+)")
# Outcomes that are not RPC errors, spelled as Telegram's own -503 is.
TIMEOUT = Outcome(-503, "TIMEOUT")
CONNECTION_LOST = Outcome(-1, "CONNECTION_LOST")


@dataclass(frozen=True, slots=True)
class Situation:
    """What the caller knows when the outcome arrives."""

    threshold: float  # FLOOD_SLEEP_THRESHOLD: waits up to this are slept
    other_bot: bool = False  # another bot could make this call now
    attempt: int = 1  # how many times this call has failed so far, this one included
    rechecked: bool = False  # the message behind the file was already re-validated


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    seconds: float = 0.0  # how long to sleep, bench the bot, or tell the viewer to wait
    dc: int | None = None  # LEARN_DC: where to go
    reason: str = ""


# Errors that mean "this file (or its location) is not there": the message is checked again
# once, since an edited message carries a new file; a second one is final.
_FILE_ERRORS = frozenset(
    {
        "FILE_ID_INVALID",
        "LOCATION_INVALID",
        "MSG_ID_INVALID",
        "PEER_ID_INVALID",
        "FILE_REFERENCE_EMPTY",
        "MEDIA_EMPTY",
        "MEDIA_INVALID",
    }
)
# The bot cannot see the bin channel (removed, channel deleted, or banned from it).
CHANNEL_ERRORS = frozenset(
    {"CHANNEL_PRIVATE", "CHANNEL_INVALID", "CHAT_ADMIN_REQUIRED", "USER_BANNED_IN_CHANNEL"}
)
# Errors that say tgstream built a request wrongly: never retried into a loop.
_REQUEST_BUGS = frozenset(
    {
        "LIMIT_INVALID",
        "OFFSET_INVALID",
        "MESSAGE_IDS_EMPTY",
        "CDN_METHOD_INVALID",
        "FILEREF_UPGRADE_NEEDED",
        "DC_ID_INVALID",
        "INPUT_METHOD_INVALID",
    }
)
# The key is not (or no longer) authorized on that DC: a new key/authorization is needed.
_KEY_ERRORS = frozenset(
    {
        "AUTH_KEY_UNREGISTERED",
        "AUTH_KEY_INVALID",
        "AUTH_KEY_PERM_EMPTY",
        "SESSION_REVOKED",
        "SESSION_EXPIRED",
        "AUTH_KEY_DUPLICATED",
    }
)
# Sign-in refused for good: the token or the API id is wrong, and retrying changes nothing.
_CREDENTIAL_ERRORS = frozenset(
    {"ACCESS_TOKEN_INVALID", "ACCESS_TOKEN_EXPIRED", "API_ID_INVALID", "API_ID_PUBLISHED_FLOOD"}
)
# The bot may not write to that chat (the viewer blocked it, left, or the text is refused).
_UNDELIVERABLE = frozenset(
    {
        "USER_IS_BLOCKED",
        "USER_IS_BOT",
        "INPUT_USER_DEACTIVATED",
        "USER_DEACTIVATED",
        "CHAT_WRITE_FORBIDDEN",
        "CHAT_RESTRICTED",
        "MESSAGE_TOO_LONG",
        "MESSAGE_EMPTY",
        "ENTITY_BOUNDS_INVALID",
        "BUTTON_URL_INVALID",
        "REPLY_MARKUP_INVALID",
    }
)


def decide(method: str, outcome: Outcome, situation: Situation) -> Decision:
    """The one action for this outcome of this call."""
    name, code = outcome.name, outcome.code
    if code == 420 or name in ("FLOOD_WAIT_X", "FLOOD_PREMIUM_WAIT_X", "SLOWMODE_WAIT_X"):
        return _flood(outcome, situation)
    if name in _CREDENTIAL_ERRORS and method == SIGN_IN:
        return Decision(Action.DISABLE_BOT, reason=f"Telegram refuses the bot: {name}")
    if name in _KEY_ERRORS or code == 401:
        return _key_error(method, name, situation)
    if code == 303:
        return _migrate(method, outcome, situation)
    if method == GET_FILE and name.startswith("FILE_REFERENCE_") and name in _FILE_ERRORS:
        return _file_error(name, situation)
    if method == GET_FILE and name.startswith("FILE_REFERENCE_"):
        # FILE_REFERENCE_EXPIRED and its variants: "it must be refreshed".
        if situation.attempt >= MAX_ATTEMPTS:
            return _unavailable("the file reference keeps expiring")
        return Decision(Action.REFRESH_REFERENCE, reason=name)
    if name in CHANNEL_ERRORS or (method == GET_MESSAGES and name == "PEER_ID_INVALID"):
        if situation.other_bot:
            return Decision(Action.FAIL_OVER, seconds=_CHANNEL_BENCH, reason=name)
        return _unavailable(f"the bot cannot read the bin channel ({name})")
    if name in _FILE_ERRORS and method in (GET_FILE, GET_MESSAGES):
        if method == GET_MESSAGES:
            return Decision(Action.NOT_FOUND, reason=name)
        return _file_error(name, situation)
    if name in _REQUEST_BUGS:
        return Decision(Action.ABORT, reason=f"Telegram rejected the request: {name}")
    if method in (SEND_MESSAGE, SEND_MEDIA) and name in _UNDELIVERABLE:
        return Decision(Action.ABORT, reason=f"the reply cannot be delivered: {name}")
    if method == IMPORT_AUTHORIZATION and name in ("AUTH_BYTES_INVALID", "USER_ID_INVALID"):
        # The exported bytes were stale or consumed: export again.
        return _transient(situation, name)
    if code in (-503, -1) or code >= 500 or code in (-500, -404, -429):
        return _transient(situation, name)
    if 400 <= code < 500:
        # An error this table does not know: waiting will not fix a bad request.
        return Decision(Action.ABORT, reason=f"unexpected Telegram error {code} {name}")
    return _transient(situation, f"unexpected Telegram answer {code} {name}")


# How long a bot that lost access to the bin channel is left out of resolving.
_CHANNEL_BENCH = 300.0


def _flood(outcome: Outcome, situation: Situation) -> Decision:
    seconds = float(outcome.value if outcome.value is not None else DEFAULT_FLOOD_SECONDS)
    seconds = max(seconds, 1.0)
    if situation.other_bot:
        return Decision(Action.FAIL_OVER, seconds=seconds, reason=outcome.name)
    if seconds <= situation.threshold:
        return Decision(Action.SLEEP, seconds=seconds, reason=outcome.name)
    return Decision(Action.UNAVAILABLE, seconds=seconds, reason=outcome.name)


def _key_error(method: str, name: str, situation: Situation) -> Decision:
    if situation.attempt >= MAX_ATTEMPTS:
        return _unavailable(f"the DC keeps refusing our keys ({name})")
    if method == SIGN_IN:
        # The sign-in itself runs on a fresh key; a refused key there is transient.
        return _transient(situation, name)
    return Decision(Action.RESET_POOL, reason=name)


def _migrate(method: str, outcome: Outcome, situation: Situation) -> Decision:
    dc = outcome.value
    if dc is None or situation.attempt >= MAX_ATTEMPTS:
        return _unavailable(f"Telegram keeps redirecting ({outcome.message})")
    return Decision(Action.LEARN_DC, dc=dc, reason=outcome.name)


def _file_error(name: str, situation: Situation) -> Decision:
    if situation.rechecked:
        return Decision(Action.NOT_FOUND, reason=f"the file is gone ({name})")
    return Decision(Action.RECHECK, reason=name)


def _transient(situation: Situation, reason: str) -> Decision:
    if situation.attempt >= MAX_ATTEMPTS:
        return _unavailable(f"Telegram keeps failing ({reason})")
    backoff = min(0.25 * 2**situation.attempt, 2.0)
    return Decision(Action.RETRY, seconds=backoff, reason=reason)


def _unavailable(reason: str) -> Decision:
    return Decision(Action.UNAVAILABLE, seconds=UNAVAILABLE_RETRY_AFTER, reason=reason)
