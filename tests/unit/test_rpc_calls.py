"""How an API call is read and routed, before any handler runs: no sockets, no emulator."""

from __future__ import annotations

import pytest
from pyrogram.raw import functions, types

from tgemu import tl
from tgemu.mtproto.results import GZIP_MIN, rpc_result
from tgemu.rpc.query import UnparsableQuery, parse_query
from tgemu.rpc.table import METHODS


def _init(query: object) -> functions.InitConnection:
    return functions.InitConnection(
        api_id=1,
        device_model="d",
        system_version="s",
        app_version="a",
        system_lang_code="en",
        lang_pack="",
        lang_code="en",
        query=query,
    )


def test_wrappers_are_taken_off_and_what_they_say_is_kept() -> None:
    wrapped = functions.InvokeWithLayer(
        layer=158,
        query=_init(
            functions.InvokeWithoutUpdates(
                query=functions.InvokeAfterMsg(msg_id=4, query=functions.help.GetConfig())
            )
        ),
    )
    query = parse_query(tl.write(wrapped))
    assert query is not None
    assert isinstance(query.call, functions.help.GetConfig)
    assert (query.layer, query.without_updates, query.name) == (158, True, "help.getConfig")
    plain = parse_query(
        tl.write(functions.upload.GetFile(location=types.InputPeerSelf(), offset=0, limit=4096))
    )
    assert plain is not None
    assert (plain.layer, plain.without_updates, plain.name) == (None, False, "upload.getFile")


def test_gzip_packed_calls_are_read() -> None:
    query = parse_query(tl.gzip_packed(tl.write(functions.help.GetNearestDc())))
    assert query is not None and query.name == "help.getNearestDc"


def test_a_type_that_is_no_function_runs_nothing() -> None:
    assert parse_query(tl.write(types.InputPeerSelf())) is None


@pytest.mark.parametrize("body", [b"\x01\x02\x03\x04", b"\xff\xff\xff\xff" + bytes(8)])
def test_an_unknown_constructor_is_unparsable(body: bytes) -> None:
    with pytest.raises(UnparsableQuery):
        parse_query(body)


def test_every_handler_is_registered_under_its_constructor_once() -> None:
    assert len(METHODS.by_id) == 25
    for constructor in (
        functions.upload.GetFile.ID,
        functions.auth.ImportBotAuthorization.ID,
        functions.help.GetConfig.ID,
        functions.updates.GetDifference.ID,
    ):
        assert METHODS.get(constructor) is not None
    assert METHODS.get(functions.auth.ImportBotAuthorization.ID).needs_auth is False  # type: ignore[union-attr]
    assert METHODS.get(functions.InvokeWithLayer.ID) is None


def test_large_results_are_gzipped_except_file_parts() -> None:
    big = tl.write(types.messages.Chats(chats=[])) + bytes(4 * GZIP_MIN)
    packed = rpc_result(12, big)
    assert tl.constructor_of(packed.body[12:]) == 0x3072CFA1
    assert tl.read(packed.body[12:]) == tl.read(big)
    file_part = tl.write(
        types.upload.File(type=types.storage.FileUnknown(), mtime=0, bytes=bytes(4 * GZIP_MIN))
    )
    assert rpc_result(12, file_part).body[12:] == file_part
    small = tl.write(types.InputPeerSelf())
    assert rpc_result(12, small).body[12:] == small
