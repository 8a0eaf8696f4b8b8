"""The failure policy as a table: every error the method pages on core.telegram.org list for
the calls tgstream makes, plus floods, key trouble, timeouts, lost connections and unknown
errors, each with the one action it gets.  The end-to-end tests (tests/e2e/test_unhappy_paths.py)
inject the same errors through the emulator and check what a viewer sees."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyrogram import raw
from pyrogram.errors import RPCError

from tgstream.telegram.outcomes import outcome_of
from tgstream.telegram.policy import (
    CONNECTION_LOST,
    EXPORT_AUTHORIZATION,
    GET_FILE,
    GET_MESSAGES,
    IMPORT_AUTHORIZATION,
    MAX_ATTEMPTS,
    METHODS,
    SEND_MEDIA,
    SEND_MESSAGE,
    SIGN_IN,
    TIMEOUT,
    Action,
    Outcome,
    Situation,
    decide,
)

A = Action
CALM = Situation(threshold=10)

# (method, code, message, expected action in a calm situation: one bot, first failure).
DOCUMENTED: list[tuple[str, int, str, Action]] = [
    # core.telegram.org/method/upload.getFile
    (GET_FILE, 400, "CDN_METHOD_INVALID", A.ABORT),
    (GET_FILE, 400, "CHANNEL_INVALID", A.UNAVAILABLE),
    (GET_FILE, 400, "CHANNEL_PRIVATE", A.UNAVAILABLE),
    (GET_FILE, 406, "FILEREF_UPGRADE_NEEDED", A.ABORT),
    (GET_FILE, 400, "FILE_ID_INVALID", A.RECHECK),
    (GET_FILE, 400, "FILE_REFERENCE_EMPTY", A.RECHECK),
    (GET_FILE, 400, "FILE_REFERENCE_EXPIRED", A.REFRESH_REFERENCE),
    (GET_FILE, 400, "FILE_REFERENCE_0_EXPIRED", A.REFRESH_REFERENCE),
    (GET_FILE, 420, "FLOOD_PREMIUM_WAIT_3", A.SLEEP),
    (GET_FILE, 400, "LIMIT_INVALID", A.ABORT),
    (GET_FILE, 400, "LOCATION_INVALID", A.RECHECK),
    (GET_FILE, 400, "MSG_ID_INVALID", A.RECHECK),
    (GET_FILE, 400, "OFFSET_INVALID", A.ABORT),
    (GET_FILE, 400, "PEER_ID_INVALID", A.RECHECK),
    (GET_FILE, 401, "AUTH_KEY_PERM_EMPTY", A.RESET_POOL),
    (GET_FILE, 303, "FILE_MIGRATE_4", A.LEARN_DC),
    # core.telegram.org/method/channels.getMessages
    (GET_MESSAGES, 400, "CHANNEL_INVALID", A.UNAVAILABLE),
    (GET_MESSAGES, 400, "CHANNEL_PRIVATE", A.UNAVAILABLE),
    (GET_MESSAGES, 406, "CHANNEL_PRIVATE", A.UNAVAILABLE),
    (GET_MESSAGES, 400, "MESSAGE_IDS_EMPTY", A.ABORT),
    (GET_MESSAGES, 400, "MSG_ID_INVALID", A.NOT_FOUND),
    (GET_MESSAGES, 400, "USER_BANNED_IN_CHANNEL", A.UNAVAILABLE),
    # Not on the method's page, but what a wrong or unknown bin channel peer gets.
    (GET_MESSAGES, 400, "PEER_ID_INVALID", A.UNAVAILABLE),
    # core.telegram.org/method/auth.exportAuthorization
    (EXPORT_AUTHORIZATION, 400, "DC_ID_INVALID", A.ABORT),
    # core.telegram.org/method/auth.importAuthorization
    (IMPORT_AUTHORIZATION, 400, "AUTH_BYTES_INVALID", A.RETRY),
    (IMPORT_AUTHORIZATION, 400, "USER_ID_INVALID", A.RETRY),
    # core.telegram.org/method/auth.importBotAuthorization
    (SIGN_IN, 400, "ACCESS_TOKEN_EXPIRED", A.DISABLE_BOT),
    (SIGN_IN, 400, "ACCESS_TOKEN_INVALID", A.DISABLE_BOT),
    (SIGN_IN, 400, "API_ID_INVALID", A.DISABLE_BOT),
    (SIGN_IN, 400, "API_ID_PUBLISHED_FLOOD", A.DISABLE_BOT),
    (SIGN_IN, 401, "AUTH_KEY_INVALID", A.RETRY),
    # core.telegram.org/method/messages.sendMessage and messages.sendMedia: every 400/403
    # means this reply cannot go out as it is; none is helped by waiting.
    (SEND_MESSAGE, 400, "BOT_DOMAIN_INVALID", A.ABORT),
    (SEND_MESSAGE, 400, "BUTTON_URL_INVALID", A.ABORT),
    (SEND_MESSAGE, 400, "CHANNEL_PRIVATE", A.UNAVAILABLE),
    (SEND_MESSAGE, 400, "CHAT_ADMIN_REQUIRED", A.UNAVAILABLE),
    (SEND_MESSAGE, 400, "CHAT_ID_INVALID", A.ABORT),
    (SEND_MESSAGE, 400, "CHAT_RESTRICTED", A.ABORT),
    (SEND_MESSAGE, 403, "CHAT_WRITE_FORBIDDEN", A.ABORT),
    (SEND_MESSAGE, 400, "ENTITY_BOUNDS_INVALID", A.ABORT),
    (SEND_MESSAGE, 400, "INPUT_USER_DEACTIVATED", A.ABORT),
    (SEND_MESSAGE, 400, "MESSAGE_EMPTY", A.ABORT),
    (SEND_MESSAGE, 400, "MESSAGE_TOO_LONG", A.ABORT),
    (SEND_MESSAGE, 400, "PEER_ID_INVALID", A.ABORT),
    (SEND_MESSAGE, 400, "REPLY_MARKUP_INVALID", A.ABORT),
    (SEND_MESSAGE, 400, "USER_IS_BOT", A.ABORT),
    (SEND_MESSAGE, 403, "USER_IS_BLOCKED", A.ABORT),
    (SEND_MESSAGE, 420, "SLOWMODE_WAIT_5", A.SLEEP),
    (SEND_MESSAGE, 500, "RANDOM_ID_DUPLICATE", A.RETRY),
    (SEND_MEDIA, 400, "MEDIA_EMPTY", A.ABORT),
    (SEND_MEDIA, 400, "MEDIA_INVALID", A.ABORT),
    (SEND_MEDIA, 400, "FILE_REFERENCE_EXPIRED", A.ABORT),
    (SEND_MEDIA, 403, "CHAT_SEND_MEDIA_FORBIDDEN", A.ABORT),
    (SEND_MEDIA, 400, "CHANNEL_PRIVATE", A.UNAVAILABLE),
]

# Every method: what no method page lists but every call can meet (core.telegram.org/api/errors).
GENERAL: list[tuple[int, str, Action]] = [
    (420, "FLOOD_WAIT_3", A.SLEEP),
    (420, "FLOOD_WAIT_65", A.UNAVAILABLE),
    (420, "FLOOD_PREMIUM_WAIT_3", A.SLEEP),
    (420, "FLOOD_PREMIUM_WAIT_600", A.UNAVAILABLE),
    (420, "FLOOD_TEST_PHONE_WAIT_3", A.SLEEP),
    (500, "INTERNAL", A.RETRY),
    (500, "RPC_CALL_FAIL", A.RETRY),
    (-503, "Timeout", A.RETRY),
    (TIMEOUT.code, TIMEOUT.message, A.RETRY),
    (CONNECTION_LOST.code, CONNECTION_LOST.message, A.RETRY),
]


@pytest.mark.parametrize(("method", "code", "message", "action"), DOCUMENTED)
def test_documented_errors(method: str, code: int, message: str, action: Action) -> None:
    decision = decide(method, Outcome(code, message), CALM)
    assert decision.action is action, decision


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("code", "message", "action"), GENERAL)
def test_errors_every_call_can_meet(method: str, code: int, message: str, action: Action) -> None:
    assert decide(method, Outcome(code, message), CALM).action is action


@pytest.mark.parametrize("method", [GET_FILE, GET_MESSAGES, EXPORT_AUTHORIZATION, SEND_MEDIA])
@pytest.mark.parametrize("code", [401, 406])
@pytest.mark.parametrize(
    "message",
    ["AUTH_KEY_UNREGISTERED", "AUTH_KEY_INVALID", "SESSION_REVOKED", "AUTH_KEY_DUPLICATED"],
)
def test_a_refused_key_resets_the_pool(method: str, code: int, message: str) -> None:
    assert decide(method, Outcome(code, message), CALM).action is A.RESET_POOL


def test_flood_wait_seconds_and_failover() -> None:
    flood = Outcome(420, "FLOOD_WAIT_120")
    alone = decide(GET_MESSAGES, flood, CALM)
    assert (alone.action, alone.seconds) == (A.UNAVAILABLE, 120)
    shared = decide(GET_MESSAGES, flood, Situation(10, other_bot=True))
    assert (shared.action, shared.seconds) == (A.FAIL_OVER, 120)
    short = decide(GET_FILE, Outcome(420, "FLOOD_PREMIUM_WAIT_3"), Situation(10, other_bot=True))
    assert (short.action, short.seconds) == (A.FAIL_OVER, 3)
    at_threshold = decide(GET_FILE, Outcome(420, "FLOOD_WAIT_10"), CALM)
    assert (at_threshold.action, at_threshold.seconds) == (A.SLEEP, 10)
    # A 420 without a number is still a wait, never a hammering retry.
    odd = decide(GET_FILE, Outcome(420, "FLOOD_SOMETHING"), CALM)
    assert odd.action is A.SLEEP and odd.seconds >= 1


def test_a_bot_without_the_channel_fails_over_when_another_can_read_it() -> None:
    decision = decide(GET_MESSAGES, Outcome(400, "CHANNEL_PRIVATE"), Situation(10, True))
    assert decision.action is A.FAIL_OVER and decision.seconds > 0


def test_migrations_name_the_dc() -> None:
    decision = decide(GET_FILE, Outcome(303, "FILE_MIGRATE_5"), CALM)
    assert (decision.action, decision.dc) == (A.LEARN_DC, 5)
    assert decide(GET_FILE, Outcome(303, "SEE_OTHER"), CALM).action is A.UNAVAILABLE


def test_a_file_error_after_a_recheck_is_final() -> None:
    rechecked = Situation(10, rechecked=True)
    for message in ("FILE_ID_INVALID", "LOCATION_INVALID", "FILE_REFERENCE_EMPTY"):
        assert decide(GET_FILE, Outcome(400, message), rechecked).action is A.NOT_FOUND


@pytest.mark.parametrize("method", METHODS)
def test_unknown_errors(method: str) -> None:
    assert decide(method, Outcome(400, "SOMETHING_NEW"), CALM).action is A.ABORT
    assert decide(method, Outcome(403, "SOMETHING_NEW"), CALM).action is A.ABORT
    assert decide(method, Outcome(502, "SOMETHING_NEW"), CALM).action is A.RETRY
    assert decide(method, Outcome(0, "ODD"), CALM).action is A.RETRY


_REPEATABLE = {A.RETRY, A.RESET_POOL, A.REFRESH_REFERENCE, A.LEARN_DC}


@given(
    method=st.sampled_from(METHODS),
    code=st.sampled_from([-503, -1, 0, 303, 400, 401, 403, 406, 420, 500, 502]),
    message=st.from_regex(r"[A-Z_]{1,30}(_[0-9]{1,6})?", fullmatch=True),
    other=st.booleans(),
    attempt=st.integers(1, 20),
    rechecked=st.booleans(),
)
def test_every_outcome_gets_one_bounded_decision(
    method: str, code: int, message: str, other: bool, attempt: int, rechecked: bool
) -> None:
    decision = decide(method, Outcome(code, message), Situation(10, other, attempt, rechecked))
    assert 0 <= decision.seconds <= 86_400 * 1000
    assert decision.reason
    # Nothing is retried into a loop: past the last attempt, only waits and answers remain.
    if attempt >= MAX_ATTEMPTS:
        assert decision.action not in _REPEATABLE
    if decision.action is A.SLEEP:
        assert 0 < decision.seconds <= 10
    if decision.action is A.LEARN_DC:
        assert decision.dc is not None


def test_outcome_names_and_values() -> None:
    assert Outcome(420, "FLOOD_WAIT_65").name == "FLOOD_WAIT_X"
    assert Outcome(420, "FLOOD_WAIT_65").value == 65
    assert Outcome(400, "FILE_ID_INVALID").value is None


def _raised(code: int, message: str) -> BaseException:
    try:
        RPCError.raise_it(
            raw.types.RpcError(error_code=code, error_message=message),
            raw.functions.upload.GetFile,
        )
    except RPCError as exc:
        return exc
    raise AssertionError("raise_it did not raise")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (420, "FLOOD_WAIT_65"),
        (420, "FLOOD_PREMIUM_WAIT_3"),
        (303, "FILE_MIGRATE_4"),
        (400, "FILE_ID_INVALID"),
        (400, "CHANNEL_PRIVATE"),
        (406, "AUTH_KEY_DUPLICATED"),
        (401, "AUTH_KEY_UNREGISTERED"),
        (400, "SOMETHING_NEW"),
        (420, "SOMETHING_NEW_7"),
        (500, "SOMETHING_NEW"),
    ],
)
def test_kurigram_exceptions_become_outcomes(
    code: int, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(str(tmp_path))  # Kurigram notes unknown errors in ./unknown_errors.txt
    assert outcome_of(_raised(code, message)) == Outcome(code, message)


def test_transport_failures_become_outcomes() -> None:
    assert outcome_of(TimeoutError()) == TIMEOUT
    assert outcome_of(ConnectionResetError()) == CONNECTION_LOST
    assert outcome_of(ValueError("a bug")) is None
