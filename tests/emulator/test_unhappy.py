"""Unhappy paths, seen from a stock Kurigram client over real MTProto: injected rpc_errors,
a deleted channel message, a file that is gone, a bot removed from the channel, a DC that hangs.

Each test undoes what it changes: the `emu` fixture clears faults and counters, and removed
members are added back here, since one emulator process serves the whole session.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyrogram import Client, errors, filters, raw
from pyrogram.file_id import FileId
from pyrogram.handlers import DeletedMessagesHandler, MessageHandler
from pyrogram.types import Message

from tests.support.kurigram import document_location, make_client
from tests.support.processes import EmulatorProcess
from tests.support.wire import KeyExchange, ServerKey, WireConnection
from tgemu.faults import FloodRule, RpcErrorRule, rule_matches, take_rule

pytestmark = pytest.mark.timeout(120)

MiB = 1 << 20
# Long enough for anything the emulator does under load; only ever waited out on failure.
ARRIVES_WITHIN = 30.0
# How long a hung DC must stay silent: it never answers, so any bound is a safe one.
SILENT_FOR = 1.5


def control(emu: EmulatorProcess, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{emu.url}{path}", timeout=30, **kwargs)


def get_file(location: Any, offset: int = 0, limit: int = MiB) -> Any:
    return raw.functions.upload.GetFile(location=location, offset=offset, limit=limit)


async def input_channel(client: Client, channel_id: int) -> Any:
    peer = await client.resolve_peer(channel_id)
    return raw.types.InputChannel(channel_id=peer.channel_id, access_hash=peer.access_hash)


# --- rule matching (pure) ----------------------------------------------------------------------


def test_a_rule_matches_its_method_dc_and_account() -> None:
    rule = RpcErrorRule(
        method="upload.getFile", dc=4, code=420, message="FLOOD_PREMIUM_WAIT_3", user_id=7
    )
    assert rule_matches(rule, "upload.getFile", 4, 7)
    assert not rule_matches(rule, "upload.getFile", 2, 7)
    assert not rule_matches(rule, "upload.getFile", 4, 8)
    assert not rule_matches(rule, "upload.getFile", 4, None)
    assert not rule_matches(rule, "upload.saveFilePart", 4, 7)
    anyone = FloodRule(method="upload.getFile", seconds=1)
    assert rule_matches(anyone, "upload.getFile", 1, None)
    assert rule_matches(anyone, "upload.getFile", 5, 9)


def test_take_rule_spends_uses_and_drops_used_up_rules() -> None:
    only_seven = RpcErrorRule(method="m", code=400, message="A", user_id=7, count=None)
    twice = RpcErrorRule(method="m", code=400, message="B", count=2)
    always = RpcErrorRule(method="m", code=400, message="C", count=None)
    rules = [only_seven, twice, always]
    assert take_rule(rules, "other.method", 2, 7) is None
    # The first rule that matches wins; another account's rule is passed over.
    assert take_rule(rules, "m", 2, 8) is twice
    assert twice.count == 1 and rules == [only_seven, twice, always]
    assert take_rule(rules, "m", 2, None) is twice
    assert rules == [only_seven, always]
    for _ in range(3):
        assert take_rule(rules, "m", 2, 7) is only_seven
        assert take_rule(rules, "m", 2, 8) is always
    assert rules == [only_seven, always] and always.count is None


# --- injected rpc_errors -----------------------------------------------------------------------


async def test_an_rpc_error_rule_with_count_2_hits_exactly_twice(
    emu: EmulatorProcess, workdir: Path
) -> None:
    data = os.urandom(MiB)
    location = document_location(emu.upload(data, dc=4)["file_id"])
    rule = {
        "method": "upload.getFile",
        "dc": 4,
        "code": 420,
        "message": "FLOOD_PREMIUM_WAIT_3",
        "count": 2,
    }
    async with make_client(emu.config, "bot", workdir) as client:
        media = await client.get_session(4, is_media=True)
        emu.reset()
        assert emu.faults(rpc_errors=[rule])["rpc_errors"] == [
            {**rule, "user_id": None, "delay": 0}
        ]
        for left in ([1], []):
            with pytest.raises(errors.FloodPremiumWait) as flood:
                await media.invoke(get_file(location), sleep_threshold=0)
            assert flood.value.value == 3
            rules = control(emu, "GET", "/faults").json()["rpc_errors"]
            assert [r["count"] for r in rules] == left
        part = await media.invoke(get_file(location), sleep_threshold=0)
        assert part.bytes == data
    stats = emu.stats()
    assert stats["errors"]["FLOOD_PREMIUM_WAIT_3"] == 2
    assert stats["methods"]["upload.getFile"] == 3
    assert stats["dcs"]["4"]["getfile_requests"] == 1
    assert stats["dcs"]["4"]["flood_waits"] == 0


async def test_a_negative_code_is_answered_as_given(emu: EmulatorProcess, workdir: Path) -> None:
    async with make_client(emu.config, "bot", workdir) as client:
        emu.faults(rpc_errors=[{"method": "help.getNearestDc", "code": -503, "message": "Timeout"}])
        # Session.send, not invoke: invoke would retry a 503 and hide what was answered.
        with pytest.raises(errors.Timeout503) as timeout:
            await client.session.send(raw.functions.help.GetNearestDc())
        assert "[-503 Timeout]" in str(timeout.value)
        # count defaults to 1: the next call is run.
        assert (await client.invoke(raw.functions.help.GetNearestDc())).this_dc == 2
    assert emu.stats()["errors"]["Timeout"] == 1
    assert control(emu, "GET", "/faults").json()["rpc_errors"] == []


async def test_rules_with_user_id_hit_only_that_bot(emu: EmulatorProcess, workdir: Path) -> None:
    first_token, second_token = emu.config["bot_tokens"][:2]
    first_id, second_id = emu.config["bot_ids"][:2]
    login_rule = {
        "method": "auth.importBotAuthorization",
        "dc": None,
        "code": 420,
        "message": "FLOOD_WAIT_2838",
        "count": 1,
        "user_id": second_id,
        "delay": 0,
    }
    flood_rule = {
        "method": "help.getNearestDc",
        "dc": None,
        "seconds": 9,
        "count": None,
        "user_id": first_id,
    }
    emu.faults(rpc_errors=[login_rule], flood_waits=[flood_rule])
    nearest = raw.functions.help.GetNearestDc()

    # The login rule names the second bot (by the token in the query): the first signs in.
    async with make_client(emu.config, "first", workdir, bot_token=first_token) as first:
        assert control(emu, "GET", "/faults").json()["rpc_errors"] == [login_rule]
        with pytest.raises(errors.FloodWait) as flood:
            await first.invoke(nearest, sleep_threshold=0)
        assert flood.value.value == 9

        with pytest.raises(errors.FloodWait) as login_flood:
            await make_client(emu.config, "second", workdir, bot_token=second_token).start()
        assert login_flood.value.value == 2838
        assert control(emu, "GET", "/faults").json()["rpc_errors"] == []

        async with make_client(emu.config, "second", workdir, bot_token=second_token) as second:
            assert (await second.get_me()).id == second_id
            # The flood rule names the first bot only.
            assert (await second.invoke(nearest, sleep_threshold=0)).this_dc == 2
            with pytest.raises(errors.FloodWait):
                await first.invoke(nearest, sleep_threshold=0)

    stats = emu.stats()
    assert stats["errors"]["FLOOD_WAIT_2838"] == 1
    assert stats["dcs"]["2"]["bot_signins"] == 2
    assert stats["dcs"]["2"]["flood_waits"] == 2
    assert control(emu, "GET", "/faults").json()["flood_waits"] == [flood_rule]


# --- a deleted channel message -----------------------------------------------------------------


async def test_a_deleted_channel_message_is_message_empty_and_members_are_told(
    emu: EmulatorProcess, workdir: Path
) -> None:
    channel = emu.config["bin_channel"]
    doomed = emu.post_to_channel(os.urandom(5000), dc=2, name="doomed.bin")["message_id"]
    kept = emu.post_to_channel(os.urandom(5000), dc=2, name="kept.bin")["message_id"]
    deleted: asyncio.Queue[list[tuple[int | None, int]]] = asyncio.Queue()
    client = make_client(emu.config, "bot", workdir, no_updates=False, skip_updates=False)

    async def on_deleted(c: Client, messages: list[Message]) -> None:
        deleted.put_nowait([(m.chat.id if m.chat else None, m.id) for m in messages])

    client.add_handler(DeletedMessagesHandler(on_deleted))
    async with client:
        source = await input_channel(client, channel)
        response = control(emu, "DELETE", f"/channels/{channel}/messages/{doomed}")
        assert response.status_code == 200, response.text
        assert response.json()["deleted"] == [doomed]
        assert await asyncio.wait_for(deleted.get(), ARRIVES_WITHIN) == [(channel, doomed)]

        answer = await client.invoke(
            raw.functions.channels.GetMessages(
                channel=source,
                id=[raw.types.InputMessageID(id=doomed), raw.types.InputMessageID(id=kept)],
            )
        )
        assert isinstance(answer.messages[0], raw.types.MessageEmpty)
        assert answer.messages[0].id == doomed
        assert isinstance(answer.messages[1], raw.types.Message)
        assert answer.messages[1].id == kept

    listed = [m["id"] for m in control(emu, "GET", f"/channels/{channel}/messages").json()]
    assert kept in listed and doomed not in listed
    assert control(emu, "GET", f"/channels/{channel}/messages/{doomed}").status_code == 404
    again = control(emu, "DELETE", f"/channels/{channel}/messages/{doomed}")
    assert again.status_code == 404 and "error" in again.json()


# --- a file that is gone -----------------------------------------------------------------------


async def test_a_deleted_file_answers_file_id_invalid_on_every_dc(
    emu: EmulatorProcess, workdir: Path
) -> None:
    channel = emu.config["bin_channel"]
    data = os.urandom(MiB + 5)
    posted = emu.post_to_channel(data, dc=4, name="lost.bin")
    other = emu.upload(os.urandom(5000), dc=2, name="also-lost.bin")
    async with make_client(emu.config, "bot", workdir) as client:
        message = await client.get_messages(channel, posted["message_id"])
        location = document_location(message.document.file_id)
        media = await client.get_session(4, is_media=True)
        assert (await media.invoke(get_file(location))).bytes == data[:MiB]

        numeric = FileId.decode(posted["file_id"]).media_id
        response = control(emu, "DELETE", f"/files/{numeric}")
        assert response.status_code == 200, response.text
        assert response.json() == {"id": numeric, "dc_id": 4, "gone": True}
        emu.reset()
        # Gone on its own DC, and no FILE_MIGRATE_4 from another: it is nowhere.
        with pytest.raises(errors.FileIdInvalid):
            await media.invoke(get_file(location))
        with pytest.raises(errors.FileIdInvalid):
            await client.invoke(get_file(location))

        # The message that held it is still there, still describing the document.
        again = await client.get_messages(channel, posted["message_id"])
        assert again.document is not None and again.document.file_size == len(data)
        shown = control(emu, "GET", f"/channels/{channel}/messages/{posted['message_id']}")
        assert shown.json()["file"]["gone"] is True

        # The Bot-API file_id names a file too.
        by_file_id = control(emu, "DELETE", f"/files/{other['file_id']}")
        assert by_file_id.status_code == 200, by_file_id.text
        assert by_file_id.json()["id"] == other["id"]
        with pytest.raises(errors.FileIdInvalid):
            await client.invoke(get_file(document_location(other["file_id"])))

    stats = emu.stats()
    assert stats["errors"]["FILE_ID_INVALID"] == 3
    assert stats["dcs"]["4"]["getfile_requests"] == 0
    assert stats["dcs"]["2"]["file_migrate_errors"] == 0
    for ref in (str(numeric), other["file_id"], "12345", "not-a-file-id"):
        missing = control(emu, "DELETE", f"/files/{ref}")
        assert missing.status_code == 404 and "error" in missing.json(), ref


# --- a bot removed from the channel ------------------------------------------------------------


@asynccontextmanager
async def removed_from(emu: EmulatorProcess, channel: int, user_id: int) -> AsyncIterator[None]:
    response = control(emu, "DELETE", f"/channels/{channel}/members/{user_id}")
    assert response.status_code == 200, response.text
    assert response.json() == {"channel_id": channel, "user_id": user_id, "member": False}
    try:
        yield
    finally:
        control(emu, "PUT", f"/channels/{channel}/members/{user_id}").raise_for_status()


def channel_posts(client: Client) -> asyncio.Queue[int]:
    posts: asyncio.Queue[int] = asyncio.Queue()

    async def on_post(c: Client, message: Message) -> None:
        posts.put_nowait(message.id)

    client.add_handler(MessageHandler(on_post, filters.channel))
    return posts


async def test_a_removed_bot_gets_channel_private_and_no_updates(
    emu: EmulatorProcess, workdir: Path
) -> None:
    channel = emu.config["bin_channel"]
    first_token, second_token = emu.config["bot_tokens"][:2]
    second_id = emu.config["bot_ids"][1]
    kept = emu.post_to_channel(os.urandom(5000), dc=2, name="kept.bin")["message_id"]
    stored = emu.upload(os.urandom(5000), dc=2, name="to-copy.bin")
    document = raw.types.InputDocument(
        id=stored["id"],
        access_hash=stored["access_hash"],
        file_reference=bytes.fromhex(stored["file_reference"]),
    )
    first = make_client(emu.config, "first", workdir, first_token, no_updates=False)
    second = make_client(emu.config, "second", workdir, second_token, no_updates=False)
    first_posts, second_posts = channel_posts(first), channel_posts(second)

    async with first, second:
        target = await input_channel(second, channel)
        peer = await second.resolve_peer(channel)
        async with removed_from(emu, channel, second_id):
            calls: list[Any] = [
                raw.functions.channels.GetMessages(
                    channel=target, id=[raw.types.InputMessageID(id=kept)]
                ),
                raw.functions.channels.GetChannels(id=[target]),
                raw.functions.channels.GetFullChannel(channel=target),
                raw.functions.messages.SendMessage(
                    peer=peer, message="hello", random_id=secrets.randbits(63)
                ),
                raw.functions.messages.SendMedia(
                    peer=peer,
                    media=raw.types.InputMediaDocument(id=document),
                    message="",
                    random_id=secrets.randbits(63),
                ),
                raw.functions.messages.ForwardMessages(
                    from_peer=peer, id=[kept], random_id=[secrets.randbits(63)], to_peer=peer
                ),
                raw.functions.messages.EditMessage(peer=peer, id=kept, message="edited"),
            ]
            for call in calls:
                with pytest.raises(errors.ChannelPrivate):
                    await second.invoke(call)
            with pytest.raises(errors.ChannelPrivate):
                await second.get_messages(channel, kept)
            # The other bot is still an admin there.
            assert (await first.get_messages(channel, kept)).id == kept

            unseen = emu.post_to_channel(os.urandom(100), dc=2)["message_id"]
            assert await asyncio.wait_for(first_posts.get(), ARRIVES_WITHIN) == unseen

        # Added back as admin: it reads the channel and gets its updates again, starting
        # with the first post after its return (the one before it was never sent to it).
        assert (await second.get_messages(channel, kept)).id == kept
        seen = emu.post_to_channel(os.urandom(100), dc=2)["message_id"]
        assert await asyncio.wait_for(second_posts.get(), ARRIVES_WITHIN) == seen
        assert await asyncio.wait_for(first_posts.get(), ARRIVES_WITHIN) == seen
        await asyncio.sleep(0.5)
        assert second_posts.empty()

    assert emu.stats()["errors"]["CHANNEL_PRIVATE"] >= len(calls) + 1


# --- a DC that hangs ---------------------------------------------------------------------------


async def test_a_hung_dc_answers_nothing_until_the_hang_is_cleared(
    emu: EmulatorProcess, workdir: Path
) -> None:
    nearest = raw.functions.help.GetNearestDc()
    async with make_client(emu.config, "bot", workdir) as client:
        await client.get_me()
        shown = emu.faults(dcs={"2": {"hang": True}})
        assert shown["dcs"]["2"]["hang"] is True
        with pytest.raises(TimeoutError):
            await client.invoke(nearest, retries=1, timeout=SILENT_FOR)
        emu.faults(dcs={"2": {"hang": False}})
        # The same connection works again: what was sent during the hang is simply lost.
        answer = await asyncio.wait_for(client.invoke(nearest), ARRIVES_WITHIN)
        assert answer.this_dc == 2


async def test_a_hung_dc_ignores_handshakes_on_new_and_existing_connections(
    emu: EmulatorProcess,
) -> None:
    server_key = ServerKey.from_pem(emu.config["rsa_public_key"])
    address = emu.dc_address(5)
    existing = await WireConnection.open(address, "full", 5)
    await KeyExchange(existing, server_key, 5).req_pq()
    emu.faults(dcs={"5": {"hang": True}})
    fresh = await WireConnection.open(address, "obfuscated_intermediate", 5)
    try:
        for connection in (existing, fresh):
            exchange = KeyExchange(connection, server_key, 5)
            with pytest.raises(TimeoutError):
                await exchange.call(raw.functions.ReqPqMulti(nonce=exchange.nonce), SILENT_FOR)
        assert control(emu, "GET", "/faults").json()["dcs"]["5"]["hang"] is True

        emu.reset()  # DELETE /faults clears the hang too
        assert control(emu, "GET", "/faults").json()["dcs"]["5"]["hang"] is False
        # Both streams are still in step (full transport seqnos, obfuscation's cipher).
        exchange = KeyExchange(existing, server_key, 5)
        res_pq = await exchange.call(raw.functions.ReqPqMulti(nonce=exchange.nonce), ARRIVES_WITHIN)
        assert res_pq.nonce == exchange.nonce
        await KeyExchange(fresh, server_key, 5).run()
        assert emu.dc_stats(5)["auth_keys_created"] == 1
    finally:
        await existing.close()
        await fresh.close()


# --- the control API ---------------------------------------------------------------------------


def test_control_api_accepts_any_code_and_shows_the_rules(emu: EmulatorProcess) -> None:
    rules = [
        {"method": "upload.getFile", "code": -503, "message": "Timeout"},
        {"method": "messages.sendMedia", "code": 400, "message": "A" * 200, "count": None},
    ]
    shown = emu.faults(rpc_errors=rules, flood_waits=[{"method": "upload.getFile", "seconds": 1}])
    assert shown["rpc_errors"] == [
        {"dc": None, "count": 1, "user_id": None, "delay": 0, **rules[0]},
        {"dc": None, "user_id": None, "delay": 0, **rules[1]},
    ]
    assert shown["flood_waits"] == [
        {"method": "upload.getFile", "dc": None, "seconds": 1, "count": 1, "user_id": None}
    ]
    cleared = control(emu, "DELETE", "/faults").json()
    assert cleared["rpc_errors"] == [] and cleared["flood_waits"] == []


def _rpc_error(**change: Any) -> dict[str, Any]:
    rule = {"method": "upload.getFile", "code": 420, "message": "FLOOD_WAIT_1", **change}
    return {"rpc_errors": [{k: v for k, v in rule.items() if v is not None}]}


@pytest.mark.parametrize(
    "body",
    [
        _rpc_error(code=None),
        _rpc_error(code="soon"),
        _rpc_error(code=2**31),
        _rpc_error(message=None),
        _rpc_error(message=""),
        _rpc_error(message="A" * 201),
        _rpc_error(message=" FLOOD_WAIT_1"),
        _rpc_error(message="FLOOD\nWAIT"),
        _rpc_error(method=""),
        _rpc_error(dc=9),
        _rpc_error(count=0),
        _rpc_error(user_id=0),
        _rpc_error(seconds=3),
        {"rpc_errors": {"method": "upload.getFile"}},
        {"flood_waits": [{"method": "upload.getFile", "seconds": 1, "user_id": -5}]},
        {"dcs": {"2": {"hang": "sometimes"}}},
    ],
)
def test_control_api_rejects_bad_fault_rules(emu: EmulatorProcess, body: dict[str, Any]) -> None:
    response = control(emu, "POST", "/faults", json=body)
    assert response.status_code == 400, response.text
    assert "error" in response.json()
    faults = control(emu, "GET", "/faults").json()
    assert faults["rpc_errors"] == [] and faults["flood_waits"] == []


def test_control_api_404s_for_unknown_channels_messages_members_and_files(
    emu: EmulatorProcess,
) -> None:
    channel = emu.config["bin_channel"]
    bot_id = emu.config["bot_ids"][0]
    for method, path in [
        ("DELETE", "/channels/-1001/messages/1"),
        ("DELETE", f"/channels/{channel}/messages/987654"),
        ("DELETE", f"/channels/-1001/members/{bot_id}"),
        ("PUT", f"/channels/-1001/members/{bot_id}"),
        ("DELETE", f"/channels/{channel}/members/999999"),
        ("PUT", f"/channels/{channel}/members/999999"),
        ("DELETE", "/files/1"),
    ]:
        response = control(emu, method, path)
        assert response.status_code == 404, (method, path, response.text)
        assert "error" in response.json()
    bad = control(emu, "DELETE", f"/channels/{channel}/messages/first")
    assert bad.status_code == 422 and "error" in bad.json()


def test_membership_accepts_either_channel_id_form(emu: EmulatorProcess) -> None:
    bare = -emu.config["bin_channel"] - 1_000_000_000_000
    bot_id = emu.config["bot_ids"][1]
    try:
        removed = control(emu, "DELETE", f"/channels/{bare}/members/{bot_id}")
        assert removed.json()["member"] is False
    finally:
        added = control(emu, "PUT", f"/channels/{bare}/members/{bot_id}")
    assert added.status_code == 200
    assert added.json() == {
        "channel_id": emu.config["bin_channel"],
        "user_id": bot_id,
        "member": True,
    }
