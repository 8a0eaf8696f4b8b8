"""MTProto 2.0 conformance of the emulator, black-box over raw sockets.

Every expectation comes from core.telegram.org/mtproto (description, service_messages,
service_messages_about_messages, auth_key, mtproto-transports); the client is
tests/support/wire/, which shares no protocol code with the emulator and takes from Kurigram
only TL objects and crypto primitives.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from pyrogram.raw import functions, types
from pyrogram.raw.all import objects
from pyrogram.raw.core import FutureSalts, GzipPacked

from tests.support.processes import EmulatorProcess
from tests.support.wire import (
    TRANSPORTS,
    AuthKey,
    ConnectionClosed,
    KeyExchange,
    Message,
    Outgoing,
    RpcResult,
    RsaScheme,
    ServerKey,
    Session,
    StateInfo,
    TransportErrorReceived,
    WireConnection,
    answers,
    create_auth_key,
    factor_pq,
    msg_id_at,
    transport_error_code,
    with_layer,
)

pytestmark = pytest.mark.timeout(60)

KEY_DC = 2


@pytest.fixture(scope="module")
def server_key(emulator: EmulatorProcess) -> ServerKey:
    return ServerKey.from_pem(emulator.config["rsa_public_key"])


@pytest.fixture(scope="module")
def shared_key(emulator: EmulatorProcess, server_key: ServerKey) -> AuthKey:
    """One auth key on DC 2 for the tests that are not about creating keys."""
    return asyncio.run(create_auth_key(emulator.dc_address(KEY_DC), server_key, KEY_DC))


@asynccontextmanager
async def open_session(
    emu: EmulatorProcess, key: AuthKey, *, kind: str = "intermediate", salt: int = 0
) -> AsyncIterator[Session]:
    connection = await WireConnection.open(emu.dc_address(key.dc_id), kind, key.dc_id)
    try:
        yield Session(connection, key, salt=salt)
    finally:
        await connection.close()


def keys_created(emu: EmulatorProcess) -> dict[int, int]:
    return {int(dc): counters["auth_keys_created"] for dc, counters in emu.stats()["dcs"].items()}


def method_calls(emu: EmulatorProcess, name: str) -> int:
    calls: int = emu.stats()["methods"].get(name, 0)
    return calls


def of_type(session: Session, cls: type) -> list[Message]:
    return [message for message in session.received() if isinstance(message.obj, cls)]


# --- 1. every transport creates a key and runs help.getConfig ---------------------------------


@pytest.mark.parametrize("scheme", ["rsa_pad", "legacy"])
@pytest.mark.parametrize(
    ("kind", "dc"), [(kind, index % 5 + 1) for index, kind in enumerate(TRANSPORTS)]
)
async def test_auth_key_and_get_config_over_each_transport(
    emu: EmulatorProcess, server_key: ServerKey, kind: str, dc: int, scheme: RsaScheme
) -> None:
    before = keys_created(emu)
    connection = await WireConnection.open(emu.dc_address(dc), kind, dc)
    try:
        key = await KeyExchange(connection, server_key, dc, scheme=scheme).run()
        assert keys_created(emu) == {**before, dc: before[dc] + 1}
        # The first message uses the salt derived from the nonces (auth_key, step 9).
        session = Session(connection, key)
        request = await session.send(with_layer(functions.help.GetConfig(), emu.config["api_id"]))
        answer = await session.answer(request)
    finally:
        await connection.close()
    assert isinstance(answer, RpcResult)
    config = answer.result
    assert isinstance(config, types.Config)
    assert config.this_dc == dc
    expected = {(int(d), e["host"], int(e["port"])) for d, e in emu.config["dcs"].items()}
    assert {(o.id, o.ip_address, o.port) for o in config.dc_options} == expected
    (created,) = of_type(session, types.NewSessionCreated)
    assert created.obj.first_msg_id == request
    assert keys_created(emu) == {**before, dc: before[dc] + 1}


async def test_res_pq_as_the_spec_describes(emu: EmulatorProcess, server_key: ServerKey) -> None:
    connection = await WireConnection.open(emu.dc_address(KEY_DC), "abridged", KEY_DC)
    try:
        exchange = KeyExchange(connection, server_key, KEY_DC)
        res_pq = await exchange.req_pq()
    finally:
        await connection.close()
    assert res_pq.nonce == exchange.nonce
    assert res_pq.server_nonce != exchange.nonce
    pq = int.from_bytes(res_pq.pq, "big")
    assert pq <= 2**63 - 1
    p, q = factor_pq(pq)
    assert p != q and p % 2 == 1 and q % 2 == 1
    assert res_pq.server_public_key_fingerprints == [emu.config["rsa_fingerprint"]]
    assert server_key.fingerprint == emu.config["rsa_fingerprint"]


# --- 2. unknown auth_key_id ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_unknown_auth_key_gets_transport_error_404(emu: EmulatorProcess, kind: str) -> None:
    unknown = AuthKey(os.urandom(256), server_salt=0, server_time=0, dc_id=KEY_DC)
    async with open_session(emu, unknown, kind=kind) as session:
        await session.send(functions.Ping(ping_id=1))
        payload = await session.connection.recv()
        assert transport_error_code(payload) == -404
        assert await session.connection.wait_closed(3)


async def test_key_of_another_dc_gets_transport_error_404(
    emu: EmulatorProcess, shared_key: AuthKey
) -> None:
    connection = await WireConnection.open(emu.dc_address(4), "intermediate", 4)
    try:
        await Session(connection, shared_key).send(functions.Ping(ping_id=1))
        assert transport_error_code(await connection.recv()) == -404
        assert await connection.wait_closed(3)
    finally:
        await connection.close()


# --- 3. server salt and new sessions -------------------------------------------------------------


async def test_wrong_salt_gets_bad_server_salt_and_resending_works(
    emu: EmulatorProcess, shared_key: AuthKey
) -> None:
    async with open_session(emu, shared_key) as session:
        wrong = session.salt ^ 0x5A5A5A5A5A5A5A5A
        bad = await session.send(functions.Ping(ping_id=7), salt=wrong, seqno=1)
        notice = await session.wait_for(lambda m: answers(m.obj, bad))
        assert isinstance(notice.obj, types.BadServerSalt)
        assert (notice.obj.bad_msg_id, notice.obj.bad_msg_seqno, notice.obj.error_code) == (
            bad,
            1,
            48,
        )
        assert notice.msg_id % 4 == 1 and notice.seqno % 2 == 0
        session.salt = notice.obj.new_server_salt
        good = await session.send(functions.Ping(ping_id=7), seqno=1)
        pong = await session.answer(good)
        assert isinstance(pong, types.Pong)
        assert (pong.msg_id, pong.ping_id) == (good, 7)
        (created,) = of_type(session, types.NewSessionCreated)
        assert created.obj.first_msg_id == good
        assert created.obj.server_salt == notice.obj.new_server_salt
        assert [m for m in session.received() if answers(m.obj, bad)] == [notice]


async def test_new_session_created_once_per_session_id(
    emu: EmulatorProcess, shared_key: AuthKey
) -> None:
    async with open_session(emu, shared_key) as session:
        first = await session.send(functions.Ping(ping_id=1))
        await session.answer(first)
        second = await session.send(functions.Ping(ping_id=2))
        await session.answer(second)
        (created,) = of_type(session, types.NewSessionCreated)
        assert created.obj.first_msg_id == first
        assert created.msg_id % 4 == 3 and created.seqno % 2 == 1

        # Another session_id on the same connection is another session.
        other = secrets.randbits(63)
        session.session_ids.add(other)
        third = await session.send(functions.Ping(ping_id=3), session_id=other, seqno=1)
        await session.answer(third)
        fourth = await session.send(functions.Ping(ping_id=4), session_id=other, seqno=3)
        await session.answer(fourth)
        both = of_type(session, types.NewSessionCreated)
        assert [m.obj.first_msg_id for m in both] == [first, third]
        assert both[0].obj.unique_id != both[1].obj.unique_id
        carriers = [p.session_id for p in session.packets for m in p.messages if m in both]
        assert carriers == [session.session_id, other]

    # The salt new_session_created announces is one the server accepts.
    async with open_session(emu, shared_key, salt=created.obj.server_salt) as fresh:
        ping = await fresh.send(functions.Ping(ping_id=5))
        assert isinstance(await fresh.answer(ping), types.Pong)


# --- 4. bad_msg_notification ---------------------------------------------------------------------


@dataclass
class Violation:
    bad_msg_id: int
    bad_msg_seqno: int
    ignored: list[int]  # client msg_ids the server must not act on


async def _msg_id_not_divisible_by_4(session: Session) -> Violation:
    msg_id = session.next_msg_id() + 2
    await session.send(functions.Ping(ping_id=1), msg_id=msg_id, seqno=1)
    return Violation(msg_id, 1, [msg_id])


async def _msg_id_too_old(session: Session) -> Violation:
    msg_id = msg_id_at(time.time() - 330)
    await session.send(functions.Ping(ping_id=1), msg_id=msg_id, seqno=1)
    return Violation(msg_id, 1, [msg_id])


async def _msg_id_too_new(session: Session) -> Violation:
    msg_id = msg_id_at(time.time() + 60)
    await session.send(functions.Ping(ping_id=1), msg_id=msg_id, seqno=1)
    return Violation(msg_id, 1, [msg_id])


async def _rpc_with_even_seqno(session: Session) -> Violation:
    msg_id = await session.send(functions.help.GetConfig(), seqno=0)
    return Violation(msg_id, 0, [msg_id])


async def _ack_with_odd_seqno(session: Session) -> Violation:
    msg_id = await session.send(types.MsgsAck(msg_ids=[1]), seqno=1)
    return Violation(msg_id, 1, [msg_id])


async def _lower_msg_id_with_higher_seqno(session: Session) -> Violation:
    # B has a lower msg_id than A but a higher seqno: "there is a message with a higher
    # msg_id but with a lower seqno" -> 33.
    m1, m2 = session.next_msg_id(), session.next_msg_id()
    await session.send(functions.help.GetConfig(), msg_id=m2, seqno=5)
    await session.answer(m2)
    await session.send(functions.help.GetConfig(), msg_id=m1, seqno=7)
    session.content_sent = 4
    return Violation(m1, 7, [m1])


async def _lower_msg_id_with_equal_odd_seqno(session: Session) -> Violation:
    m1, m2 = session.next_msg_id(), session.next_msg_id()
    await session.send(functions.help.GetConfig(), msg_id=m2, seqno=5)
    await session.answer(m2)
    await session.send(functions.help.GetConfig(), msg_id=m1, seqno=5)
    session.content_sent = 3
    return Violation(m1, 5, [m1])


async def _higher_msg_id_with_lower_seqno(session: Session) -> Violation:
    # "the server has already received a message with a lower msg_id but with a higher
    # seqno" -> 32.
    m1, m2 = session.next_msg_id(), session.next_msg_id()
    await session.send(functions.help.GetConfig(), msg_id=m1, seqno=5)
    await session.answer(m1)
    await session.send(functions.help.GetConfig(), msg_id=m2, seqno=3)
    session.content_sent = 3
    return Violation(m2, 3, [m2])


async def _inner_msg_id_above_container(session: Session) -> Violation:
    container_id = session.next_msg_id()
    inner = session.next_msg_id()
    await session.send_container(
        [Outgoing(functions.Ping(ping_id=1), msg_id=inner)], msg_id=container_id
    )
    return Violation(container_id, session.last_sent[1], [inner])


async def _inner_msg_id_equal_to_container(session: Session) -> Violation:
    container_id = session.next_msg_id()
    await session.send_container(
        [Outgoing(functions.Ping(ping_id=1), msg_id=container_id)], msg_id=container_id
    )
    return Violation(container_id, session.last_sent[1], [container_id])


async def _nested_container(session: Session) -> Violation:
    inner_body, (ping,) = session.container_body([Outgoing(functions.Ping(ping_id=1))])
    inner_id = session.next_msg_id()
    outer_id, _ = await session.send_container(
        [Outgoing(inner_body, content_related=False, msg_id=inner_id)]
    )
    return Violation(outer_id, session.last_sent[1], [ping, inner_id])


async def _reused_container_msg_id(session: Session) -> Violation:
    x = await session.send(functions.Ping(ping_id=1))
    await session.answer(x)
    y = x - 2**32  # one second older than x, never used
    body, _ = session.container_body(
        [Outgoing(functions.Ping(ping_id=2), content_related=False, msg_id=y, seqno=0)]
    )
    await session.send(body, content_related=False, msg_id=x, seqno=2)
    return Violation(x, 2, [y])


BAD_MSG_CASES: list[tuple[str, int, Callable[[Session], Awaitable[Violation]]]] = [
    ("msg_id_not_divisible_by_4", 18, _msg_id_not_divisible_by_4),
    ("msg_id_300s_in_the_past", 16, _msg_id_too_old),
    ("msg_id_30s_in_the_future", 17, _msg_id_too_new),
    ("rpc_query_with_even_seqno", 35, _rpc_with_even_seqno),
    ("msgs_ack_with_odd_seqno", 34, _ack_with_odd_seqno),
    ("lower_msg_id_higher_seqno", 33, _lower_msg_id_with_higher_seqno),
    ("lower_msg_id_equal_odd_seqno", 33, _lower_msg_id_with_equal_odd_seqno),
    ("higher_msg_id_lower_seqno", 32, _higher_msg_id_with_lower_seqno),
    ("inner_msg_id_above_container", 64, _inner_msg_id_above_container),
    ("inner_msg_id_equal_to_container", 64, _inner_msg_id_equal_to_container),
    ("nested_container", 64, _nested_container),
    ("reused_container_msg_id", 19, _reused_container_msg_id),
]


@pytest.mark.parametrize(
    ("code", "violate"), [pytest.param(code, fn, id=name) for name, code, fn in BAD_MSG_CASES]
)
async def test_bad_msg_notification(
    emu: EmulatorProcess,
    shared_key: AuthKey,
    code: int,
    violate: Callable[[Session], Awaitable[Violation]],
) -> None:
    async with open_session(emu, shared_key) as session:
        violation = await violate(session)
        concerned = [violation.bad_msg_id, *violation.ignored]
        notice = await session.wait_for(lambda m: any(answers(m.obj, i) for i in concerned))
        assert type(notice.obj) is types.BadMsgNotification, notice.obj
        assert (notice.obj.bad_msg_id, notice.obj.bad_msg_seqno, notice.obj.error_code) == (
            violation.bad_msg_id,
            violation.bad_msg_seqno,
            code,
        )
        # A notice answers a client message and needs no acknowledgment.
        assert notice.msg_id % 4 == 1 and notice.seqno % 2 == 0
        # The session still works, and the rejected message was not acted on.
        probe = await session.send(functions.Ping(ping_id=99))
        assert isinstance(await session.answer(probe), types.Pong)
        acted = [m for m in session.received() if any(answers(m.obj, i) for i in violation.ignored)]
        assert acted == ([notice] if violation.bad_msg_id in violation.ignored else [])


# --- 5. containers from the client, duplicates ---------------------------------------------------


async def test_container_of_requests_each_answered(
    emu: EmulatorProcess, shared_key: AuthKey
) -> None:
    async with open_session(emu, shared_key) as session:
        container_id, (ping, config, salts) = await session.send_container(
            [
                Outgoing(functions.Ping(ping_id=42)),
                Outgoing(functions.help.GetConfig()),
                Outgoing(functions.GetFutureSalts(num=2)),
            ]
        )
        assert session.last_sent == (container_id, 6)
        pong = await session.answer(ping)
        assert isinstance(pong, types.Pong) and (pong.msg_id, pong.ping_id) == (ping, 42)
        result = await session.answer(config)
        assert isinstance(result, RpcResult) and isinstance(result.result, types.Config)
        future = await session.answer(salts)
        assert isinstance(future, FutureSalts) and future.req_msg_id == salts
        assert len(future.salts) == 2
        assert not [m for m in session.received() if answers(m.obj, container_id)]


async def test_duplicate_msg_id_is_not_executed_twice(
    emu: EmulatorProcess, shared_key: AuthKey
) -> None:
    async with open_session(emu, shared_key) as session:
        msg_id, seqno = session.next_msg_id(), session.next_seqno(True)
        await session.send(functions.help.GetConfig(), msg_id=msg_id, seqno=seqno)
        assert isinstance(await session.answer(msg_id), RpcResult)
        await session.send(functions.help.GetConfig(), msg_id=msg_id, seqno=seqno)
        # Again, inside a container.
        await session.send_container(
            [Outgoing(functions.help.GetConfig(), msg_id=msg_id, seqno=seqno)]
        )
        probe = await session.send(functions.Ping(ping_id=1))
        assert isinstance(await session.answer(probe), types.Pong)
    assert method_calls(emu, "help.getConfig") == 1


# --- 6. gzip_packed ---------------------------------------------------------------------------


async def test_gzip_packed_request_runs_and_large_result_comes_gzipped(
    emu: EmulatorProcess, shared_key: AuthKey
) -> None:
    async with open_session(emu, shared_key) as session:
        answer = await session.call(GzipPacked(functions.help.GetConfig()))
    assert isinstance(answer, RpcResult)
    assert isinstance(answer.result, types.Config)
    assert len(answer.raw) >= 256
    assert answer.gzipped, "a >= 256-byte rpc_result body did not come as gzip_packed"
    assert method_calls(emu, "help.getConfig") == 1


# --- 7. service messages -------------------------------------------------------------------------


async def test_ping_gets_pong(emu: EmulatorProcess, shared_key: AuthKey) -> None:
    async with open_session(emu, shared_key) as session:
        ping_id = secrets.randbits(63)
        request = await session.send(functions.Ping(ping_id=ping_id))
        pong = await session.answer(request)
    assert isinstance(pong, types.Pong)
    assert (pong.msg_id, pong.ping_id) == (request, ping_id)


async def test_ping_delay_disconnect_closes_after_the_delay(
    emu: EmulatorProcess, shared_key: AuthKey
) -> None:
    async with open_session(emu, shared_key) as session:
        first = await session.send(functions.PingDelayDisconnect(ping_id=1, disconnect_delay=1))
        started = time.monotonic()
        pong = await session.answer(first)
        assert isinstance(pong, types.Pong) and (pong.msg_id, pong.ping_id) == (first, 1)
        await asyncio.sleep(0.6)
        # A new ping_delay_disconnect resets the timer.
        second = await session.send(functions.PingDelayDisconnect(ping_id=2, disconnect_delay=1))
        rearmed = time.monotonic()
        pong = await session.answer(second)
        assert isinstance(pong, types.Pong) and (pong.msg_id, pong.ping_id) == (second, 2)
        assert not await session.connection.wait_closed(started + 1.25 - time.monotonic())
        assert await session.connection.wait_closed(3)
        assert time.monotonic() - rearmed >= 0.8


async def test_get_future_salts(emu: EmulatorProcess, shared_key: AuthKey) -> None:
    async with open_session(emu, shared_key) as session:
        request = await session.send(functions.GetFutureSalts(num=3))
        future = await session.answer(request)
    now = time.time()
    assert isinstance(future, FutureSalts)
    assert future.req_msg_id == request
    assert abs(future.now - now) < 5
    assert len(future.salts) == 3
    first = future.salts[0]
    assert first.valid_since <= future.now < first.valid_until
    starts = [salt.valid_since for salt in future.salts]
    assert starts == sorted(starts) and len(set(starts)) == 3
    async with open_session(emu, shared_key, salt=first.salt) as fresh:
        ping = await fresh.send(functions.Ping(ping_id=3))
        assert isinstance(await fresh.answer(ping), types.Pong)


def _destroy_result(message: Message, session_id: int) -> Any:
    obj = message.obj.result if isinstance(message.obj, RpcResult) else message.obj
    if isinstance(obj, types.DestroySessionOk | types.DestroySessionNone):
        return obj if obj.session_id == session_id else None
    return None


async def test_destroy_session(emu: EmulatorProcess, shared_key: AuthKey) -> None:
    async with open_session(emu, shared_key) as victim:
        await victim.call(functions.Ping(ping_id=1))
        async with open_session(emu, shared_key) as session:
            await session.send(functions.DestroySession(session_id=victim.session_id))
            ok = await session.wait_for(lambda m: _destroy_result(m, victim.session_id))
            assert type(_destroy_result(ok, victim.session_id)) is types.DestroySessionOk
            unknown = secrets.randbits(63)
            await session.send(functions.DestroySession(session_id=unknown))
            none = await session.wait_for(lambda m: _destroy_result(m, unknown))
            assert type(_destroy_result(none, unknown)) is types.DestroySessionNone
        # The server forgot the session: using it again makes a new one.
        again = await victim.send(functions.Ping(ping_id=2))
        assert isinstance(await victim.answer(again), types.Pong)
        created = of_type(victim, types.NewSessionCreated)
        assert len(created) == 2 and created[1].obj.first_msg_id == again


async def test_msgs_state_req_reports_received_messages(
    emu: EmulatorProcess, shared_key: AuthKey
) -> None:
    async with open_session(emu, shared_key) as session:
        ping = await session.send(functions.Ping(ping_id=1))
        await session.answer(ping)
        config = await session.send(functions.help.GetConfig())
        await session.answer(config)
        request = await session.send(types.MsgsStateReq(msg_ids=[ping, config]))
        info = await session.answer(request)
    assert isinstance(info, StateInfo)
    assert info.req_msg_id == request
    assert len(info.info) == 2
    # 4 = message received, possibly with the +8..+128 flags.
    assert [status & 7 for status in info.info] == [4, 4]


async def test_msgs_state_req_reports_unreceived_messages(
    emu: EmulatorProcess, shared_key: AuthKey
) -> None:
    async with open_session(emu, shared_key) as session:
        first = await session.send(functions.Ping(ping_id=1))
        await session.answer(first)
        gap = session.next_msg_id()  # never sent, between two received messages
        second = await session.send(functions.Ping(ping_id=2))
        await session.answer(second)
        request_id = session.next_msg_id()
        too_high = request_id + 2**32  # after everything the server received
        too_low = msg_id_at(time.time() - 600)  # older than anything it could remember
        await session.send(types.MsgsStateReq(msg_ids=[too_low, gap, too_high]), msg_id=request_id)
        info = await session.answer(request_id)
    assert isinstance(info, StateInfo)
    assert info.req_msg_id == request_id
    # 1 = nothing known (too low), 2 = not received (within the stored range),
    # 3 = not received (msg_id too high).
    assert list(info.info) == [1, 2, 3]


async def test_rpc_drop_answer(emu: EmulatorProcess, shared_key: AuthKey) -> None:
    async with open_session(emu, shared_key) as session:
        answered = await session.send(functions.help.GetConfig())
        await session.answer(answered)
        for target in (answered, msg_id_at(time.time() - 100)):
            drop = await session.send(functions.RpcDropAnswer(req_msg_id=target))
            result = await session.answer(drop)
            assert isinstance(result, RpcResult)
            assert isinstance(result.result, types.RpcAnswerUnknown)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: functions.Ping(ping_id=5), id="ping"),
        pytest.param(lambda: types.MsgsStateReq(msg_ids=[msg_id_at(time.time())]), id="state"),
        pytest.param(lambda: functions.GetFutureSalts(num=1), id="get_future_salts"),
        pytest.param(lambda: functions.RpcDropAnswer(req_msg_id=4), id="rpc_drop_answer"),
        pytest.param(lambda: functions.DestroySession(session_id=8), id="destroy_session"),
    ],
)
async def test_service_messages_may_be_sent_not_content_related(
    emu: EmulatorProcess, shared_key: AuthKey, make: Callable[[], Any]
) -> None:
    # description, "Content-related Message": only API-level RPC queries must be marked
    # content-related, and msgs_ack / msg_container / msg_copy / gzip_packed never; a client
    # *may* mark any other constructor as content-related, so an even seqno is valid too.
    async with open_session(emu, shared_key) as session:
        request = await session.send(make(), content_related=False)
        reply = await session.wait_for(
            lambda m: answers(m.obj, request) or _destroy_result(m, 8) is not None
        )
    assert not isinstance(reply.obj, types.BadMsgNotification), reply.obj


# --- 8. wrappers, unknown constructors, authorization ---------------------------------------------


async def test_invoke_without_updates_and_invoke_after_msg(
    emu: EmulatorProcess, shared_key: AuthKey
) -> None:
    async with open_session(emu, shared_key) as session:
        first = await session.send(functions.InvokeWithoutUpdates(query=functions.help.GetConfig()))
        answer = await session.answer(first)
        assert isinstance(answer, RpcResult) and isinstance(answer.result, types.Config)
        after = await session.call(
            functions.InvokeAfterMsg(msg_id=first, query=functions.help.GetConfig())
        )
        assert isinstance(after, RpcResult) and isinstance(after.result, types.Config)
    assert method_calls(emu, "help.getConfig") == 2


async def test_unknown_constructor_gets_rpc_error_400(
    emu: EmulatorProcess, shared_key: AuthKey
) -> None:
    constructor = secrets.randbits(32)
    while constructor in objects:
        constructor = secrets.randbits(32)
    async with open_session(emu, shared_key) as session:
        request = await session.send(struct.pack("<I", constructor) + os.urandom(16))
        answer = await session.answer(request)
        assert isinstance(answer, RpcResult)
        assert isinstance(answer.result, types.RpcError)
        assert answer.result.error_code == 400
        assert re.fullmatch(
            r"INPUT_(METHOD|CONSTRUCTOR)_INVALID(_\w+)?", answer.result.error_message
        )
        ping = await session.send(functions.Ping(ping_id=9))
        assert isinstance(await session.answer(ping), types.Pong)


async def test_method_needing_authorization_on_a_fresh_key(
    emu: EmulatorProcess, server_key: ServerKey
) -> None:
    key = await create_auth_key(emu.dc_address(KEY_DC), server_key, KEY_DC, kind="full")
    async with open_session(emu, key, kind="full") as session:
        answer = await session.call(functions.users.GetUsers(id=[types.InputUserSelf()]), within=5)
    assert isinstance(answer, RpcResult)
    assert isinstance(answer.result, types.RpcError)
    assert (answer.result.error_code, answer.result.error_message) == (
        401,
        "AUTH_KEY_UNREGISTERED",
    )


# --- 9. server msg_ids and seqnos -----------------------------------------------------------------


async def test_server_msg_ids_and_seqnos(emu: EmulatorProcess, shared_key: AuthKey) -> None:
    async with open_session(emu, shared_key) as session:
        await session.call(functions.Ping(ping_id=1))
        await session.call(with_layer(functions.help.GetConfig(), emu.config["api_id"]))
        _, ids = await session.send_container(
            [
                Outgoing(functions.Ping(ping_id=2)),
                Outgoing(functions.help.GetConfig()),
                Outgoing(functions.GetFutureSalts(num=1)),
            ]
        )
        for msg_id in ids:
            await session.answer(msg_id)
        bad = await session.send(types.MsgsAck(msg_ids=[1]), seqno=session.content_sent * 2 + 1)
        await session.answer(bad)
        content = [m.msg_id for m in session.received() if m.seqno % 2]
        await session.send(types.MsgsAck(msg_ids=content), content_related=False)
        await session.call(functions.Ping(ping_id=3))
        now = time.time()

    last = 0
    content_seen = 0  # content-related messages the server sent before the current one
    for packet in session.packets:
        for message in packet.messages:
            assert message.msg_id > last, "server msg_ids must increase"
            last = message.msg_id
            assert abs(message.msg_id / 2**32 - now) < 30
            expected = 3 if isinstance(message.obj, types.NewSessionCreated) else 1
            assert message.msg_id % 4 == expected, message.obj
            # seqno = 2 * (content-related messages sent before) + 1 if this one is.
            assert message.seqno >> 1 == content_seen, message.obj
            content_seen += message.seqno & 1
            if isinstance(message.obj, types.NewSessionCreated | RpcResult):
                assert message.seqno % 2 == 1, message.obj
            if isinstance(message.obj, types.BadMsgNotification | types.MsgsAck):
                assert message.seqno % 2 == 0, message.obj
        if packet.is_container:
            assert all(m.msg_id < packet.msg_id for m in packet.messages)
            assert packet.msg_id > last
            last = packet.msg_id
            assert packet.msg_id % 2 == 1
            assert packet.seqno == 2 * content_seen


# --- 10. broken handshakes -----------------------------------------------------------------------


async def test_req_dh_params_with_a_wrong_fingerprint(
    emu: EmulatorProcess, server_key: ServerKey
) -> None:
    before = keys_created(emu)
    connection = await WireConnection.open(emu.dc_address(KEY_DC), "intermediate", KEY_DC)
    try:
        exchange = KeyExchange(connection, server_key, KEY_DC)
        res_pq = await exchange.req_pq()
        outcome: object
        try:
            outcome = await exchange.req_dh_params(res_pq, fingerprint=server_key.fingerprint ^ 1)
        except (TransportErrorReceived, ConnectionClosed) as exc:
            outcome = exc
    finally:
        await connection.close()
    assert keys_created(emu) == before
    # auth_key, step 6: "If the query is incorrect, the server returns a -404 error".
    assert isinstance(outcome, TransportErrorReceived), outcome
    assert outcome.code == -404


@pytest.mark.parametrize("g_b", ["one", "p_minus_one"])
async def test_set_client_dh_params_with_g_b_out_of_range(
    emu: EmulatorProcess, server_key: ServerKey, g_b: str
) -> None:
    before = keys_created(emu)
    connection = await WireConnection.open(emu.dc_address(KEY_DC), "abridged", KEY_DC)
    try:
        exchange = KeyExchange(connection, server_key, KEY_DC)
        params = await exchange.req_dh_params(await exchange.req_pq())
        value = 1 if g_b == "one" else params.dh_prime - 1
        answer: object
        try:
            answer, client_key = await exchange.set_client_dh_params(params, g_b=value)
        except (TransportErrorReceived, ConnectionClosed) as exc:
            answer, client_key = exc, b""
    finally:
        await connection.close()
    # auth_key, step 9: both sides check 1 < g_b < dh_prime - 1; the server refuses with
    # dh_gen_fail (or drops the exchange with -404), and makes no key.
    if isinstance(answer, TransportErrorReceived):
        assert answer.code == -404
    else:
        assert isinstance(answer, types.DhGenFail), answer
        assert (answer.nonce, answer.server_nonce) == (params.nonce, params.server_nonce)
    assert keys_created(emu) == before
    if client_key:
        unknown = AuthKey(client_key, server_salt=0, server_time=0, dc_id=KEY_DC)
        async with open_session(emu, unknown) as session:
            await session.send(functions.Ping(ping_id=1))
            assert transport_error_code(await session.connection.recv()) == -404
