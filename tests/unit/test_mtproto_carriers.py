"""One session, several connections: a reconnect moves it, two clients at once cost the key.

Pure: `MTProtoCore.receive` is fed messages with the connection (carrier) they came on, and
`SessionTable.detach` says when a connection closed. The rule (tgemu/mtproto/carriers.py):
a session may move to a new connection at any time, even from one still open (a reconnect
after a network drop); the connection it left carrying it again while the new one is open is
concurrent use, answered 406 AUTH_KEY_DUPLICATED on every call of the key from then on.
"""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pyrogram.raw import functions, types

from tgemu import tl
from tgemu.mtcrypto import Plain
from tgemu.mtproto.carriers import Arrival, arrive
from tgemu.mtproto.core import MTProtoCore
from tgemu.mtproto.events import Event, KeyDuplicated, Resend, RpcCall
from tgemu.mtproto.outgoing import Send
from tgemu.mtproto.session import SessionState

NOW = 1_700_000_000.5
KEY = 0x0BAD_5EED_0000_0001
OTHER_KEY = 0x0BAD_5EED_0000_0002
SESSION = 4242
A, B, C = 1, 2, 3
BASE = int(NOW * 2**32) & ~3


def mid(index: int) -> int:
    """The client msg_id of the index-th message: later messages, higher ids."""
    return BASE + index * 4


class Client:
    """One client's numbering of a session: each client counts its own seqnos (a second
    process on the same session_id starts `seqnos_from` further, so its numbering fits the
    session's and only the connections tell the two apart)."""

    def __init__(
        self, core: MTProtoCore, key: int = KEY, session_id: int = SESSION, seqnos_from: int = 0
    ) -> None:
        self.core, self.key, self.session_id = core, key, session_id
        self.content_sent = seqnos_from

    def send(self, carrier: int, index: int, body: bytes, *, content: bool = True) -> list[Event]:
        if content:
            self.content_sent += 1
        seqno = self.content_sent * 2 - (1 if content else 0)
        salt = self.core.salts.current(self.key, NOW)
        plain = Plain(salt, self.session_id, mid(index), seqno, body)
        return self.core.receive(self.key, plain, NOW, carrier).events

    def call(self, carrier: int, index: int) -> list[Event]:
        return self.send(carrier, index, tl.write(functions.help.GetConfig()))


def ran(events: list[Event]) -> list[int]:
    return [e.msg_id for e in events if isinstance(e, RpcCall)]


def refused(events: list[Event]) -> list[int]:
    """The msg_ids answered rpc_error 406 AUTH_KEY_DUPLICATED."""
    ids = []
    for event in events:
        if isinstance(event, KeyDuplicated):
            answer = tl.read(event.answer.body)
            assert isinstance(answer.result, types.RpcError)
            assert (answer.result.error_code, answer.result.error_message) == (
                406,
                "AUTH_KEY_DUPLICATED",
            )
            assert event.answer.content_related and event.answer.is_response
            ids.append(answer.req_msg_id)
    return ids


def sent(events: list[Event]) -> list[Any]:
    return [tl.read(e.body) for e in events if isinstance(e, Send)]


# --- what is not duplication ------------------------------------------------------------------


def test_one_connection_never_duplicates() -> None:
    core = MTProtoCore(b"s" * 32)
    client = Client(core)
    for index in range(50):
        assert ran(client.call(A, index)) == [mid(index)]
    assert core.duplicated_keys == set()


def test_a_reconnect_after_the_old_connection_closed_keeps_the_session() -> None:
    core = MTProtoCore(b"s" * 32)
    client = Client(core)
    client.call(A, 0)
    answer = core.sessions.get_or_create(KEY, SESSION).number(Send(b"\0" * 8, True, True), NOW)
    core.sessions.detach(A)
    events = client.call(B, 1)
    assert ran(events) == [mid(1)]
    assert [e.out for e in events if isinstance(e, Resend)] == [answer]
    assert core.sessions.get_or_create(KEY, SESSION).carrier == B
    assert refused(events) == []


def test_a_reconnect_while_the_old_connection_is_still_open_moves_the_session() -> None:
    """The client gave up on A (half-open: the server has not seen it close) and moved on."""
    core = MTProtoCore(b"s" * 32)
    client = Client(core)
    client.call(A, 0)
    assert ran(client.call(B, 1)) == [mid(1)]
    assert ran(client.call(C, 2)) == [mid(2)]
    for index in range(3, 10):
        assert ran(client.call(C, index)) == [mid(index)]
    assert core.sessions.get_or_create(KEY, SESSION).carrier == C
    assert core.duplicated_keys == set()


def test_a_late_message_from_the_left_connection_runs_without_moving_back() -> None:
    """Sent on A before the client moved to B, read after B's first message: not concurrent."""
    core = MTProtoCore(b"s" * 32)
    client = Client(core)
    client.call(A, 0)
    salt, query = core.salts.current(KEY, NOW), tl.write(functions.help.GetConfig())
    late = Plain(salt, SESSION, mid(3), 3, query)
    moving = Plain(salt, SESSION, mid(5), 5, query)
    assert ran(core.receive(KEY, moving, NOW, B).events) == [mid(5)]
    assert ran(core.receive(KEY, late, NOW, A).events) == [mid(3)]
    assert core.sessions.get_or_create(KEY, SESSION).carrier == B
    assert core.duplicated_keys == set()


def test_two_sessions_of_one_key_on_two_connections_both_work() -> None:
    """What each tgstream replica does on a shared key: its own session_ids."""
    core = MTProtoCore(b"s" * 32)
    one, two = Client(core, session_id=1), Client(core, session_id=2)
    for index in range(0, 40, 2):
        assert ran(one.call(A, index)) == [mid(index)]
        assert ran(two.call(B, index + 1)) == [mid(index + 1)]
    assert core.duplicated_keys == set()


def test_a_session_may_come_back_to_a_connection_once_the_other_closed() -> None:
    core = MTProtoCore(b"s" * 32)
    client = Client(core)
    client.call(A, 0)
    client.call(B, 1)
    core.sessions.detach(B)
    assert ran(client.call(A, 2)) == [mid(2)]
    assert core.duplicated_keys == set()


# --- duplication --------------------------------------------------------------------------------


def test_a_session_used_again_on_the_connection_it_left_costs_the_key() -> None:
    core = MTProtoCore(b"s" * 32)
    first, second = Client(core), Client(core, seqnos_from=100)  # one session_id, 2 processes
    assert ran(first.call(A, 0)) == [mid(0)]
    assert ran(second.call(B, 1)) == [mid(1)]  # taken for a reconnect of the first
    events = first.call(A, 2)
    assert ran(events) == [] and refused(events) == [mid(2)]
    assert core.duplicated_keys == {KEY}
    # The whole key is invalidated: the other connection, a new session on a new connection
    # (a restarted client keeping its key), the same session once both closed.
    assert refused(second.call(B, 3)) == [mid(3)]
    restarted = Client(core, session_id=99)
    events = restarted.call(C, 4)
    assert refused(events) == [mid(4)]
    assert [type(o) for o in sent([e for e in events if isinstance(e, Send)])] == [
        types.NewSessionCreated
    ]
    core.sessions.detach(A)
    core.sessions.detach(B)
    assert refused(first.call(C + 1, 5)) == [mid(5)]
    # Another key is untouched.
    assert ran(Client(core, key=OTHER_KEY).call(A, 6)) == [mid(6)]


def test_every_call_of_a_container_on_a_duplicated_key_is_refused_whatever_its_seqno() -> None:
    core = MTProtoCore(b"s" * 32)
    first, second = Client(core), Client(core, seqnos_from=100)
    first.call(A, 0)
    second.call(B, 1)
    first.call(A, 2)
    query = tl.write(functions.help.GetConfig())
    ack = tl.write(types.MsgsAck(msg_ids=[1]))
    # Seqnos that contradict each other and the session's: two clients numbered it.
    inner = [(mid(10), 1, query), (mid(11), 1, query), (mid(12), 0, ack)]
    body = [struct.pack("<Ii", 0x73F1F8DC, len(inner))]
    for msg_id, seqno, part in inner:
        body.append(struct.pack("<qiI", msg_id, seqno, len(part)) + part)
    plain = Plain(core.salts.current(KEY, NOW), SESSION, mid(13), 0, b"".join(body))
    events = core.receive(KEY, plain, NOW, B).events
    assert refused(events) == [mid(10), mid(11)]
    assert ran(events) == []


def test_service_messages_are_still_answered_on_a_duplicated_key() -> None:
    core = MTProtoCore(b"s" * 32)
    first, second = Client(core), Client(core, seqnos_from=100)
    first.call(A, 0)
    second.call(B, 1)
    first.call(A, 2)
    events = second.send(B, 3, tl.write(functions.Ping(ping_id=5)), content=False)
    assert refused(events) == [] and [type(o) for o in sent(events)] == [types.Pong]


def test_moving_on_and_back_in_one_client_is_duplication_only_when_the_other_is_open() -> None:
    """The rule itself, on one session's state: move, late, duplicated."""
    session = SessionState(KEY, SESSION, unique_id=1)
    assert arrive(session, A, mid(0)) is Arrival.MOVED
    assert arrive(session, A, mid(1)) is Arrival.SAME
    assert arrive(session, B, mid(4)) is Arrival.MOVED
    assert session.left == {A}
    assert arrive(session, A, mid(3)) is Arrival.LATE
    assert arrive(session, A, mid(5)) is Arrival.DUPLICATED
    assert session.carrier == B  # arrive records moves only


# --- properties ----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["stay", "reconnect_closed", "reconnect_open"]),
            st.sampled_from(["query", "ping", "ack"]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_one_client_reconnecting_any_way_never_gets_auth_key_duplicated(
    steps: list[tuple[str, str]],
) -> None:
    """However one client drops and reopens connections (the old one closed or left open),
    it only ever moves forward: every query runs, none is refused."""
    core = MTProtoCore(b"s" * 32)
    client = Client(core)
    carrier = 1
    for index, (move, kind) in enumerate(steps):
        if move == "reconnect_closed":
            core.sessions.detach(carrier)
        if move != "stay":
            carrier += 1
        if kind == "query":
            events = client.call(carrier, index)
            assert ran(events) == [mid(index)]
        elif kind == "ping":
            events = client.send(
                carrier, index, tl.write(functions.Ping(ping_id=index)), content=False
            )
        else:
            ack = tl.write(types.MsgsAck(msg_ids=[]))
            events = client.send(carrier, index, ack, content=False)
        assert refused(events) == []
    assert core.duplicated_keys == set()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([A, B]), min_size=1, max_size=30))
def test_two_clients_on_one_session_are_caught_once_they_take_turns(turns: list[int]) -> None:
    """Two processes, each on its own open connection, one session_id: the first message on
    a connection the session left while the other still carries it costs the key, and is
    refused with every later one; nothing before it is."""
    core = MTProtoCore(b"s" * 32)
    clients = {A: Client(core), B: Client(core, seqnos_from=100)}
    visited: list[int] = []
    caught = False
    for index, carrier in enumerate(turns):
        events = clients[carrier].call(carrier, index)
        caught = caught or (carrier in visited and carrier != visited[-1])
        assert (KEY in core.duplicated_keys) is caught
        assert refused(events) == ([mid(index)] if caught else [])
        assert not (caught and ran(events))
        visited.append(carrier)
