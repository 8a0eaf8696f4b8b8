"""The sans-I/O MTProto core: session rules fed with decrypted messages and a clock value.

No sockets and no event loop: each test hands `MTProtoCore.receive` client messages and
checks the events it answers with (what to send, resend and run), as the spec words them
(core.telegram.org/mtproto/service_messages_about_messages and service_messages).
"""

from __future__ import annotations

import gzip
import itertools
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyrogram.raw import functions, types
from pyrogram.raw.core import Message, MsgContainer

from tgemu import tl
from tgemu.mtcrypto import Plain
from tgemu.mtproto import codes
from tgemu.mtproto.core import MTProtoCore, Received
from tgemu.mtproto.events import CloseAfter, Event, Resend, RpcCall
from tgemu.mtproto.outgoing import Send
from tgemu.mtproto.salts import SALT_PERIOD

NOW = 1_700_000_000.25
KEY = 0x1234_5678_9ABC_DEF0
SESSION = 777
CARRIER = 1
SECRET = b"s" * 32
# A client msg_id for NOW, and the step between consecutive ones.
BASE = int(NOW * 2**32) & ~3
STEP = 4


def client_id(index: int) -> int:
    return BASE + index * STEP


def new_core() -> MTProtoCore:
    ids = iter(range(1, 10**6))
    return MTProtoCore(SECRET, new_unique_id=lambda: next(ids))


def message(
    core: MTProtoCore,
    msg_id: int,
    seqno: int,
    body: bytes,
    *,
    salt: int | None = None,
    session_id: int = SESSION,
    now: float = NOW,
    carrier: int = CARRIER,
) -> Received:
    salt = core.salts.current(KEY, now) if salt is None else salt
    return core.receive(KEY, Plain(salt, session_id, msg_id, seqno, body), now, carrier)


def query_body() -> bytes:
    return tl.write(functions.help.GetConfig())


def sends(events: list[Event]) -> list[Any]:
    """The TL objects of every Send event, parsed back."""
    return [tl.read(e.body) for e in events if isinstance(e, Send)]


def bad_msg_codes(events: list[Event]) -> list[int]:
    return [o.error_code for o in sends(events) if isinstance(o, types.BadMsgNotification)]


def calls(events: list[Event]) -> list[RpcCall]:
    return [e for e in events if isinstance(e, RpcCall)]


def started(core: MTProtoCore) -> int:
    """Open the session with one query; the next free message index."""
    message(core, client_id(0), 1, query_body())
    return 1


# --- salts ----------------------------------------------------------------------------------


def test_wrong_salt_gets_bad_server_salt_with_the_current_salt_and_nothing_runs() -> None:
    core = new_core()
    received = message(core, client_id(0), 1, query_body(), salt=12345)
    (notice,) = received.events
    assert isinstance(notice, Send) and not notice.content_related and not notice.paced
    answer = tl.read(notice.body)
    assert isinstance(answer, types.BadServerSalt)
    assert answer.error_code == codes.BAD_SERVER_SALT
    assert answer.bad_msg_id == client_id(0)
    assert answer.new_server_salt == core.salts.current(KEY, NOW)
    # Nothing was accepted: the same message with the right salt runs.
    assert calls(message(core, client_id(0), 1, query_body()).events)


@given(offset=st.integers(min_value=-3 * SALT_PERIOD, max_value=3 * SALT_PERIOD))
def test_a_salt_is_accepted_in_its_window_and_the_next(offset: int) -> None:
    core = new_core()
    salt = core.salts.current(KEY, NOW)
    window = int(NOW) // SALT_PERIOD
    later = NOW + offset
    expected = int(later) // SALT_PERIOD in (window, window + 1)
    assert core.salts.valid(KEY, salt, later) is expected


def test_the_key_exchange_salt_is_accepted_for_one_period() -> None:
    core = new_core()
    core.salts.add_initial(KEY, 42, NOW)
    assert core.salts.valid(KEY, 42, NOW + SALT_PERIOD - 1)
    assert not core.salts.valid(KEY, 42, NOW + SALT_PERIOD)
    assert not core.salts.valid(KEY + 1, 42, NOW)


@given(num=st.integers(min_value=-5, max_value=200))
def test_get_future_salts_lists_1_to_64_consecutive_windows(num: int) -> None:
    core = new_core()
    index = started(core)
    body = tl.write(functions.GetFutureSalts(num=num))
    (answer,) = sends(message(core, client_id(index), 2, body).events)
    assert answer.req_msg_id == client_id(index) and answer.now == int(NOW)
    assert len(answer.salts) == max(1, min(num, 64))
    assert answer.salts[0].salt == core.salts.current(KEY, NOW)
    for salt in answer.salts:
        # Each promised salt is accepted for its whole validity.
        assert core.salts.valid(KEY, salt.salt, salt.valid_since)
        assert core.salts.valid(KEY, salt.salt, salt.valid_until - 1)
        assert salt.valid_until - salt.valid_since == 2 * SALT_PERIOD


# --- msg_id time checks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("msg_id", "code"),
    [
        (BASE + 1, codes.MSG_ID_BAD_LOW_BITS),
        (BASE + 2, codes.MSG_ID_BAD_LOW_BITS),
        (int((NOW - 301) * 2**32) & ~3, codes.MSG_ID_TOO_LOW),
        (int((NOW + 31) * 2**32) & ~3, codes.MSG_ID_TOO_HIGH),
    ],
)
def test_msg_id_out_of_time_or_not_divisible_by_4(msg_id: int, code: int) -> None:
    core = new_core()
    events = message(core, msg_id, 1, query_body()).events
    assert bad_msg_codes(events) == [code]
    assert not calls(events)


@given(seconds=st.floats(min_value=-1000, max_value=1000), low=st.integers(0, 3))
def test_msg_id_window_is_300_seconds_back_and_30_ahead(seconds: float, low: int) -> None:
    msg_id = (int((NOW + seconds) * 2**32) & ~3) | low
    events = message(new_core(), msg_id, 1, query_body()).events
    at = msg_id / 2**32
    if low:
        expected = [codes.MSG_ID_BAD_LOW_BITS]
    elif at < NOW - 300:
        expected = [codes.MSG_ID_TOO_LOW]
    elif at > NOW + 30:
        expected = [codes.MSG_ID_TOO_HIGH]
    else:
        expected = []
    assert bad_msg_codes(events) == expected
    assert bool(calls(events)) is not expected


# --- seqno, duplicates and new_session_created -----------------------------------------------


def test_first_message_gets_new_session_created_before_it_runs() -> None:
    core = new_core()
    events = message(core, client_id(0), 1, query_body()).events
    created, call = events
    assert isinstance(created, Send) and created.content_related and not created.is_response
    notice = tl.read(created.body)
    assert isinstance(notice, types.NewSessionCreated)
    assert notice.first_msg_id == client_id(0)
    assert notice.server_salt == core.salts.current(KEY, NOW)
    assert call == RpcCall(client_id(0), query_body(), content_related=True)
    # Once per session; another session_id gets its own with its own unique_id.
    assert len(calls(message(core, client_id(1), 3, query_body()).events)) == 1
    assert sends(message(core, client_id(1), 3, query_body()).events) == []
    other = message(core, client_id(2), 1, query_body(), session_id=SESSION + 1)
    assert sends(other.events)[0].unique_id != notice.unique_id


def test_a_repeated_msg_id_is_neither_run_nor_answered_again() -> None:
    core = new_core()
    started(core)
    assert message(core, client_id(0), 1, query_body()).events == []


@pytest.mark.parametrize(
    ("body", "seqno", "code"),
    [
        (query_body(), 2, codes.SEQNO_EXPECTED_ODD),
        (tl.write(types.MsgsAck(msg_ids=[1])), 3, codes.SEQNO_EXPECTED_EVEN),
    ],
)
def test_seqno_parity_follows_content_relatedness(body: bytes, seqno: int, code: int) -> None:
    core = new_core()
    index = started(core)
    assert bad_msg_codes(message(core, client_id(index), seqno, body).events) == [code]


@pytest.mark.parametrize("seqno", [2, 3])
@pytest.mark.parametrize(
    "body",
    [
        tl.write(functions.Ping(ping_id=1)),
        tl.write(functions.GetFutureSalts(num=1)),
        tl.write(types.MsgsStateReq(msg_ids=[1])),
        tl.write(functions.DestroySession(session_id=5)),
    ],
)
def test_service_messages_may_be_content_related_or_not(body: bytes, seqno: int) -> None:
    core = new_core()
    index = started(core)
    events = message(core, client_id(index), seqno, body).events
    assert bad_msg_codes(events) == [] and len(sends(events)) == 1


def test_seqno_lower_than_an_earlier_message_and_higher_than_a_later_one() -> None:
    core = new_core()
    message(core, client_id(0), 5, query_body())
    assert bad_msg_codes(message(core, client_id(1), 3, query_body()).events) == [
        codes.SEQNO_TOO_LOW
    ]
    message(core, client_id(10), 9, query_body())
    assert bad_msg_codes(message(core, client_id(5), 11, query_body()).events) == [
        codes.SEQNO_TOO_HIGH
    ]
    # Two content-related messages never share a seqno.
    assert bad_msg_codes(message(core, client_id(11), 9, query_body()).events) == [
        codes.SEQNO_TOO_LOW
    ]


def test_a_message_older_than_everything_remembered_is_too_old() -> None:
    core = new_core()
    for index in range(1100):
        message(core, client_id(100 + index), index * 2, tl.write(types.MsgsAck(msg_ids=[])))
    assert bad_msg_codes(message(core, client_id(1), 0, query_body()).events) == [codes.MSG_TOO_OLD]


_KINDS = st.sampled_from(["query", "ack", "ping"])


def _body(kind: str) -> bytes:
    if kind == "query":
        return query_body()
    if kind == "ack":
        return tl.write(types.MsgsAck(msg_ids=[]))
    return tl.write(functions.Ping(ping_id=7))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 30), _KINDS), min_size=1, max_size=40))
def test_any_message_sequence_keeps_the_session_rules(
    sequence: list[tuple[int, int, str]],
) -> None:
    """Whatever order and numbering a client uses, the core answers each message once:
    run it (after new_session_created, sent once), reject it with one bad_msg_notification
    whose code the spec gives, or drop it as a repeat; what it accepts is consistently
    numbered."""
    core = new_core()
    accepted: list[tuple[int, int, bool]] = []
    created = 0
    for index, seqno, kind in sequence:
        msg_id = client_id(index)
        content = kind == "query" or (kind == "ping" and seqno % 2 == 1)
        repeat = any(m == msg_id for m, _, _ in accepted)
        events = message(core, msg_id, seqno, _body(kind)).events
        objects = sends(events)
        created += sum(isinstance(o, types.NewSessionCreated) for o in objects)
        errors = bad_msg_codes(events)
        if repeat:
            assert events == []
            continue
        expected_error = None
        if content and seqno % 2 == 0:
            expected_error = codes.SEQNO_EXPECTED_ODD
        elif not content and seqno % 2 == 1:
            expected_error = codes.SEQNO_EXPECTED_EVEN
        elif any(m < msg_id and (s > seqno or (s == seqno and seqno % 2)) for m, s, _ in accepted):
            expected_error = codes.SEQNO_TOO_LOW
        elif any(m > msg_id and (s < seqno or (s == seqno and seqno % 2)) for m, s, _ in accepted):
            expected_error = codes.SEQNO_TOO_HIGH
        if expected_error is not None:
            assert errors == [expected_error]
            continue
        assert errors == []
        accepted.append((msg_id, seqno, content))
        if kind == "query":
            assert [c.msg_id for c in calls(events)] == [msg_id]
        elif kind == "ping":
            assert any(isinstance(o, types.Pong) and o.msg_id == msg_id for o in objects)
        else:
            assert events == [] or all(isinstance(o, types.NewSessionCreated) for o in objects)
    assert created == (1 if accepted else 0)
    ordered = sorted(accepted)
    for (_, s1, _), (_, s2, _) in itertools.pairwise(ordered):
        assert s1 <= s2
    odd = [s for _, s, _ in accepted if s % 2]
    assert len(odd) == len(set(odd))


# --- containers ------------------------------------------------------------------------------


def container(*inner: tuple[int, int, bytes]) -> bytes:
    parts = [struct.pack("<Ii", 0x73F1F8DC, len(inner))]
    for msg_id, seqno, body in inner:
        parts.append(struct.pack("<qiI", msg_id, seqno, len(body)) + body)
    return b"".join(parts)


def test_every_message_of_a_container_is_handled() -> None:
    core = new_core()
    body = container(
        (client_id(0), 1, query_body()),
        (client_id(1), 2, tl.write(functions.Ping(ping_id=9))),
        (client_id(2), 3, query_body()),
    )
    events = message(core, client_id(3), 4, body).events
    assert [c.msg_id for c in calls(events)] == [client_id(0), client_id(2)]
    assert any(isinstance(o, types.Pong) for o in sends(events))


@pytest.mark.parametrize(
    "body",
    [
        container((client_id(0), 1, query_body()))[:-4],  # cut short
        container((client_id(0), 1, query_body())) + b"\0\0\0\0",  # trailing bytes
        container((client_id(5), 1, query_body())),  # inner not older than the container
        container((client_id(0), 0, container())),  # nested container
        container((client_id(0), 1, b"\0\0\0")),  # length not a multiple of 4
        struct.pack("<Ii", 0x73F1F8DC, 5000),  # more messages than allowed
    ],
)
def test_a_malformed_container_gets_code_64_and_nothing_runs(body: bytes) -> None:
    core = new_core()
    events = message(core, client_id(5), 2, body).events
    assert bad_msg_codes(events) == [codes.INVALID_CONTAINER]
    assert not calls(events)


@given(st.binary(max_size=200))
def test_any_container_bytes_are_answered_not_raised(tail: bytes) -> None:
    core = new_core()
    events = message(core, client_id(50), 2, struct.pack("<I", 0x73F1F8DC) + tail).events
    assert all(isinstance(e, Send | RpcCall) for e in events)


def test_a_reused_container_msg_id_gets_code_19() -> None:
    core = new_core()
    started(core)
    body = container((client_id(-1), 3, query_body()))
    assert bad_msg_codes(message(core, client_id(0), 4, body).events) == [
        codes.CONTAINER_MSG_ID_REUSED
    ]


def test_an_inner_message_out_of_time_is_rejected_alone() -> None:
    core = new_core()
    stale = int((NOW - 400) * 2**32) & ~3
    body = container((stale, 1, query_body()), (client_id(0), 3, query_body()))
    events = message(core, client_id(1), 4, body).events
    assert bad_msg_codes(events) == [codes.MSG_ID_TOO_LOW]
    assert [c.msg_id for c in calls(events)] == [client_id(0)]


def test_kurigram_containers_parse_as_the_core_reads_them() -> None:
    # Kurigram's own MsgContainer writer, not ours, builds this one.
    ping, get_config = functions.Ping(ping_id=1), functions.help.GetConfig()
    inner = [
        Message(ping, client_id(0), 2, len(ping.write())),
        Message(get_config, client_id(1), 3, len(get_config.write())),
    ]
    body = MsgContainer(inner).write()
    events = message(new_core(), client_id(2), 4, body).events
    assert [c.msg_id for c in calls(events)] == [client_id(1)]


# --- acks, resends and msgs_state_req --------------------------------------------------------


def _answered(core: MTProtoCore, count: int) -> list[int]:
    """Number `count` answers in the session, as the server sends them; their msg_ids."""
    session = core.sessions.get_or_create(KEY, SESSION)
    return [session.number(Send(b"\0" * 8, True, True), NOW).msg_id for _ in range(count)]


def test_acks_forget_answers_and_resend_requests_repeat_the_rest() -> None:
    core = new_core()
    index = started(core)
    ids = _answered(core, 3)
    ack = tl.write(types.MsgsAck(msg_ids=[ids[0], 999]))
    assert message(core, client_id(index), 2, ack).events == []
    resend = tl.write(types.MsgResendReq(msg_ids=[ids[0], ids[1], ids[2], 12345]))
    events = message(core, client_id(index + 1), 2, resend).events
    assert [e.out.msg_id for e in events if isinstance(e, Resend)] == [ids[1], ids[2]]


def test_a_new_connection_gets_every_unacknowledged_answer_again() -> None:
    core = new_core()
    index = started(core)
    ids = _answered(core, 2)
    events = message(core, client_id(index), 3, query_body(), carrier=CARRIER + 1).events
    assert [e.out.msg_id for e in events if isinstance(e, Resend)] == ids
    assert core.sessions.get_or_create(KEY, SESSION).carrier == CARRIER + 1
    # The same connection again: nothing to resend.
    events = message(core, client_id(index + 1), 5, query_body(), carrier=CARRIER + 1).events
    assert not [e for e in events if isinstance(e, Resend)]


def test_msgs_state_req_reports_each_msg_id() -> None:
    core = new_core()
    message(core, client_id(0), 1, query_body())
    message(core, client_id(10), 3, query_body())
    asked = [client_id(-5), client_id(0), client_id(5), client_id(10), client_id(20)]
    body = tl.write(types.MsgsStateReq(msg_ids=asked))
    (info,) = sends(message(core, client_id(11), 4, body).events)
    assert info.req_msg_id == client_id(11)
    assert [ord(c) for c in info.info] == [
        codes.STATE_UNKNOWN,
        codes.STATE_RECEIVED,
        codes.STATE_NOT_RECEIVED,
        codes.STATE_RECEIVED,
        codes.STATE_NOT_RECEIVED_ABOVE,
    ]


# --- ping, destroy_session, rpc_drop_answer and the rest -------------------------------------


def test_ping_gets_a_paced_pong() -> None:
    core = new_core()
    index = started(core)
    (pong,) = message(core, client_id(index), 2, tl.write(functions.Ping(ping_id=77))).events
    assert isinstance(pong, Send) and pong.paced and pong.is_response
    assert not pong.content_related
    assert tl.read(pong.body) == types.Pong(msg_id=client_id(index), ping_id=77)


@pytest.mark.parametrize(("delay", "seconds"), [(-5, 1), (0, 1), (75, 75), (10**6, 3600)])
def test_ping_delay_disconnect_arms_a_clamped_close(delay: int, seconds: int) -> None:
    core = new_core()
    index = started(core)
    body = tl.write(functions.PingDelayDisconnect(ping_id=1, disconnect_delay=delay))
    events = message(core, client_id(index), 2, body).events
    assert events[0] == CloseAfter(seconds)
    assert isinstance(sends(events)[0], types.Pong)


def test_destroy_session_forgets_another_session_of_the_key_only() -> None:
    core = new_core()
    message(core, client_id(0), 1, query_body(), session_id=1)
    message(core, client_id(1), 1, query_body(), session_id=2)
    destroy = lambda sid: tl.write(functions.DestroySession(session_id=sid))  # noqa: E731
    (ok,) = sends(message(core, client_id(2), 2, destroy(2), session_id=1).events)
    assert isinstance(ok, types.DestroySessionOk) and ok.session_id == 2
    assert core.sessions.get(KEY, 2) is None
    (none,) = sends(message(core, client_id(3), 2, destroy(2), session_id=1).events)
    assert isinstance(none, types.DestroySessionNone)
    (itself,) = sends(message(core, client_id(4), 2, destroy(1), session_id=1).events)
    assert isinstance(itself, types.DestroySessionNone)


def test_rpc_drop_answer_is_answered_rpc_answer_unknown() -> None:
    core = new_core()
    index = started(core)
    body = tl.write(functions.RpcDropAnswer(req_msg_id=client_id(0)))
    (answer,) = message(core, client_id(index), 3, body).events
    assert isinstance(answer, Send) and answer.content_related and answer.paced
    constructor, req_msg_id = struct.unpack_from("<Iq", answer.body)
    assert (constructor, req_msg_id) == (0xF35C6D01, client_id(index))
    assert isinstance(tl.read(answer.body[12:]), types.RpcAnswerUnknown)


def test_a_gzip_packed_service_message_is_unpacked() -> None:
    core = new_core()
    index = started(core)
    body = tl.gzip_packed(tl.write(functions.Ping(ping_id=5)))
    (pong,) = sends(message(core, client_id(index), 3, body).events)
    assert pong.ping_id == 5


@pytest.mark.parametrize(
    "body",
    [
        tl.write(types.MsgsStateInfo(req_msg_id=1, info="\x01")),
        tl.write(types.MsgsAllInfo(msg_ids=[1], info="\x01")),
        struct.pack("<Iiii", 0x9299359F, 0, 0, 0),  # http_wait
    ],
)
def test_informational_service_messages_need_no_answer(body: bytes) -> None:
    core = new_core()
    index = started(core)
    assert message(core, client_id(index), 2, body).events == []


def test_a_malformed_service_message_goes_to_the_api_side_as_a_call() -> None:
    core = new_core()
    index = started(core)
    # msgs_state_req claiming 1000 msg_ids it does not hold
    body = struct.pack("<IIi", 0xDA69FB52, 0x1CB5C415, 1000)
    assert calls(message(core, client_id(index), 3, body).events) == [
        RpcCall(client_id(index), body, content_related=True)
    ]


def test_updates_go_to_the_session_that_synchronised_them_else_the_latest_wanting() -> None:
    core = new_core()
    one = core.sessions.get_or_create(KEY, 1)
    two = core.sessions.get_or_create(KEY, 2)
    assert core.sessions.update_target(KEY, [one, two]) is None
    one.wants_updates = two.wants_updates = True
    assert core.sessions.update_target(KEY, [one, two]) is two
    core.sessions.route_updates(one)
    assert core.sessions.update_target(KEY, [one, two]) is one
    assert core.sessions.update_target(KEY, [two]) is two


def test_gzip_helper_matches_the_standard_library() -> None:
    data = b"x" * 1000
    packed = tl.gzip_packed(data)
    assert gzip.decompress(tl.read_tl_bytes(packed[4:])) == data
