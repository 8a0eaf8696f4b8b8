"""Telegram's rule for shared auth keys, black-box: one session on two open connections at once
is AUTH_KEY_DUPLICATED (406) and costs the key; sessions of their own on one key, and a client
moving its session to a new connection, are fine.

Raw MTProto over sockets (tests/support/wire) for the rule itself, then a stock Kurigram client
whose connections the emulator drops, which must reconnect with its session and never see it.
Every test makes its own key: a duplicated key stays refused for good.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pyrogram import raw
from pyrogram.raw import functions, types

from tests.support.kurigram import make_client
from tests.support.processes import EmulatorProcess
from tests.support.wire import (
    AuthKey,
    RpcResult,
    ServerKey,
    Session,
    WireConnection,
    create_auth_key,
    with_layer,
)

pytestmark = pytest.mark.timeout(120)

DC = 2


@pytest.fixture
async def key(emu: EmulatorProcess) -> AuthKey:
    """A new auth key on DC 2, for this test alone."""
    server_key = ServerKey.from_pem(emu.config["rsa_public_key"])
    return await create_auth_key(emu.dc_address(DC), server_key, DC)


@asynccontextmanager
async def connections(emu: EmulatorProcess, count: int) -> AsyncIterator[list[WireConnection]]:
    """`count` open connections to DC 2, all live until the block ends."""
    async with AsyncExitStack() as stack:
        opened = []
        for _ in range(count):
            connection = await WireConnection.open(emu.dc_address(DC), "intermediate", DC)
            stack.push_async_callback(connection.close)
            opened.append(connection)
        yield opened


async def get_config(session: Session, api_id: int) -> Any:
    """help.getConfig's answer: a Config, or the RpcError it was refused with."""
    answer = await session.answer(
        await session.send(with_layer(functions.help.GetConfig(), api_id))
    )
    assert isinstance(answer, RpcResult)
    return answer.result


def duplicated(result: Any) -> bool:
    return isinstance(result, types.RpcError) and (result.error_code, result.error_message) == (
        406,
        "AUTH_KEY_DUPLICATED",
    )


async def test_one_session_id_on_two_open_connections_gets_auth_key_duplicated(
    emu: EmulatorProcess, key: AuthKey
) -> None:
    api_id = emu.config["api_id"]
    shared_id = secrets.randbits(63)
    async with connections(emu, 3) as (one, two, three):
        first = Session(one, key, session_id=shared_id)
        # A second process with the same session_id; its seqnos fit the session's, so that
        # only the connections tell the two apart.
        second = Session(two, key, session_id=shared_id, content_sent=100)
        assert isinstance(await get_config(first, api_id), types.Config)
        # Alone, a message on a new connection is a reconnect: the session moves there.
        assert isinstance(await get_config(second, api_id), types.Config)
        assert emu.dc_stats(DC)["auth_key_duplicated"] == 0
        # The first connection carries the session again while the second is open.
        assert duplicated(await get_config(first, api_id))
        # The key is invalidated: the other connection, and a new session of the key.
        assert duplicated(await get_config(second, api_id))
        assert duplicated(await get_config(Session(three, key), api_id))
    counters = emu.dc_stats(DC)
    assert counters["auth_key_duplicated"] == 3
    assert emu.stats()["errors"]["AUTH_KEY_DUPLICATED"] == 3


async def test_two_session_ids_on_one_key_and_two_connections_both_work(
    emu: EmulatorProcess, key: AuthKey
) -> None:
    """What replicas sharing a key do: each its own session_ids."""
    api_id = emu.config["api_id"]
    async with connections(emu, 2) as (one, two):
        sessions = [Session(one, key), Session(two, key)]
        for _ in range(5):
            for session in sessions:
                assert isinstance(await get_config(session, api_id), types.Config)
    assert emu.dc_stats(DC)["auth_key_duplicated"] == 0


async def test_a_session_moved_to_a_new_connection_keeps_working(
    emu: EmulatorProcess, key: AuthKey
) -> None:
    """A client reconnecting with its session_id: after closing the old connection, or
    leaving it open (a half-open connection the server has not seen die)."""
    api_id = emu.config["api_id"]
    async with connections(emu, 3) as (one, two, three):
        session = Session(one, key)
        assert isinstance(await get_config(session, api_id), types.Config)
        session.connection = two  # `one` stays open and silent
        for _ in range(3):
            assert isinstance(await get_config(session, api_id), types.Config)
        await two.close()
        session.connection = three
        for _ in range(3):
            assert isinstance(await get_config(session, api_id), types.Config)
    assert emu.dc_stats(DC)["auth_key_duplicated"] == 0


async def test_kurigram_reconnecting_after_dropped_connections_never_gets_it(
    emu: EmulatorProcess, workdir: Path
) -> None:
    """The emulator drops Kurigram's connections mid-answer; Kurigram restarts its session on
    a new connection with the same session_id, as it does after any network drop."""
    nearest = raw.functions.help.GetNearestDc()
    async with make_client(emu.config, "bot", workdir) as client:
        await client.get_me()
        session_id = client.session.session_id
        connections_before = emu.dc_stats(DC)["connections"]
        for _ in range(3):
            emu.faults(dcs={str(DC): {"drop_probability": 1.0}})
            # Dropped with the answer; Kurigram restarts the session and retries.
            pending = asyncio.create_task(client.invoke(nearest))
            await _wait_for_connections(emu, connections_before + 1)
            emu.faults(dcs={str(DC): {"drop_probability": 0.0}})
            answer = await pending
            assert answer.this_dc == DC
            connections_before = emu.dc_stats(DC)["connections"]
        assert client.session.session_id == session_id, "Kurigram kept its session_id"
        assert (await client.get_me()).is_bot
    counters = emu.dc_stats(DC)
    assert counters["connections"] >= 4
    assert counters["auth_key_duplicated"] == 0
    assert "AUTH_KEY_DUPLICATED" not in emu.stats()["errors"]


async def _wait_for_connections(emu: EmulatorProcess, at_least: int) -> None:
    """Until the client has opened a new connection (the dropped one's replacement)."""
    for _ in range(1200):  # a minute at most
        if emu.dc_stats(DC)["connections"] >= at_least:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("Kurigram opened no new connection")
