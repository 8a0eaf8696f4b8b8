"""Writing Kurigram's layer-229 objects in older layers and reading older requests back."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from pyrogram.raw import functions, types
from pyrogram.raw.core import Bytes

from tgemu import tl
from tgemu.layers import adapt, convert
from tgemu.layers.schema import Schema, parse
from tgemu.layers.sources import schema_for
from tgemu.layers.wire import Node, Reader, Unmappable, Writer

LAYERS = (151, 158, 198)


def schema(layer: int) -> Schema:
    found = schema_for(layer)
    assert found is not None
    return found


def has_field(layer: int, constructor: str, name: str) -> bool:
    found = schema(layer).find(constructor, is_function=False)
    return found is not None and any(p.name == name for p in found.params)


def read_back(data: bytes, layer: int) -> Any:
    """What a client of `layer` reads: the whole buffer, by its own schema."""
    return Reader(schema(layer), data).read_all()


def bot_user() -> types.User:
    return types.User(
        id=7000000001,
        is_self=True,
        bot=True,
        access_hash=-5,
        first_name="Bot",
        username="emubot",
        bot_info_version=1,
        color=types.PeerColor(color=3),  # no user.color before layer 166
        bot_active_users=12,
    )


def document_message() -> types.Message:
    document = types.Document(
        id=99,
        access_hash=-1,
        file_reference=b"\x01ref",
        date=1700000000,
        mime_type="video/mp4",
        size=5 * 2**30,
        dc_id=4,
        attributes=[
            types.DocumentAttributeFilename(file_name="clip.mp4"),
            types.DocumentAttributeVideo(duration=1.5, w=640, h=360, supports_streaming=True),
        ],
        thumbs=[types.PhotoSize(type="m", w=320, h=180, size=4567)],
    )
    return types.Message(
        id=42,
        peer_id=types.PeerChannel(channel_id=1234),
        date=1700000001,
        message="caption",
        post=True,
        media=types.MessageMediaDocument(document=document),
    )


@pytest.mark.parametrize("layer", LAYERS)
def test_a_user_is_written_with_the_layers_constructor_and_reads_back(layer: int) -> None:
    data = convert.write(bot_user(), schema(layer))
    assert struct.unpack_from("<I", data)[0] == schema(layer).types["user"].id != 0xB1B8CC83
    node = read_back(data, layer)
    assert node.name == "user"
    assert node.fields["self"] is True and node.fields["bot"] is True
    assert (node.fields["id"], node.fields["access_hash"]) == (7000000001, -5)
    assert (node.fields["first_name"], node.fields["username"]) == ("Bot", "emubot")
    # A field is there exactly when the layer's user has it (user.color came in layer 166).
    for name in ("color", "bot_active_users"):
        assert (name in node.fields) == has_field(layer, "user", name)
    assert not has_field(151, "user", "color") and has_field(198, "user", "color")


@pytest.mark.parametrize("layer", LAYERS)
def test_a_channel_message_with_a_dc4_document_reads_back(layer: int) -> None:
    message = document_message()
    result = types.messages.ChannelMessages(
        pts=5, count=1, messages=[message], topics=[], chats=[], users=[bot_user()]
    )
    node = read_back(convert.write(result, schema(layer)), layer)
    (read,) = node.fields["messages"]
    assert (read.name, read.fields["id"], read.fields["message"]) == ("message", 42, "caption")
    assert read.fields["peer_id"].fields == {"channel_id": 1234}
    document = read.fields["media"].fields["document"].fields
    assert (document["dc_id"], document["size"], document["file_reference"]) == (
        4,
        5 * 2**30,
        b"\x01ref",
    )
    attributes = [a.name for a in document["attributes"]]
    assert attributes == ["documentAttributeFilename", "documentAttributeVideo"]
    # The thumbnail a client fetches with getFile(thumb_size="m"), in every layer.
    (thumb,) = document["thumbs"]
    assert (thumb.name, thumb.fields) == (
        "photoSize",
        {"type": "m", "w": 320, "h": 180, "size": 4567},
    )
    # Layer 229's fields the client has no place for are left out; its own are there.
    assert ("topics" in node.fields) == has_field(layer, "messages.channelMessages", "topics")


def test_a_flag_sharing_its_bit_with_a_field_gets_the_field_written() -> None:
    # Layer 151 reads user.bot_info_version whenever user.bot (the same bit 14) is set.
    user = bot_user()
    user.bot_info_version = None
    node = read_back(convert.write(user, schema(151)), 151)
    assert node.fields["bot"] is True and node.fields["bot_info_version"] == 0


MINI = """
peerEmpty#00000001 = Peer;
peerUser#00000002 user_id:long = Peer;
thing#00000010 flags:# a:int b:long s:string d:bytes v:Vector<int> ok:Bool p:Peer
    x:flags.0?int = Thing;
wrap#00000020 flags:# t:flags.0?Thing u:flags.1?Vector<Thing> = Wrap;
only#00000030 p:Missing = Only;
"""


def test_fields_only_the_target_layer_has_get_neutral_values() -> None:
    writer = Writer(parse(MINI, 1))
    data = writer.boxed(Node("thing"))
    node = Reader(parse(MINI, 1), data).read_all()
    assert node.fields == {
        "a": 0,
        "b": 0,
        "s": "",
        "d": b"",
        "v": [],
        "ok": False,
        "p": Node("peerEmpty"),
    }
    assert writer.dropped == []


def test_what_cannot_be_said_is_dropped_when_optional_and_refused_when_required() -> None:
    mini = parse(MINI, 1)
    writer = Writer(mini)
    # A value of the wrong kind in an optional field: the field is left out and listed.
    data = writer.boxed(Node("wrap", {"t": "not a thing", "u": [Node("thing")]}))
    assert "wrap.t" in writer.dropped
    node = Reader(mini, data).read_all()
    assert "t" not in node.fields and [n.name for n in node.fields["u"]] == ["thing"]
    # A constructor the layer lacks, and a required field with no neutral value.
    with pytest.raises(Unmappable, match="not in layer 1"):
        Writer(mini).boxed(Node("unknownThing"))
    with pytest.raises(Unmappable, match="no neutral Missing"):
        Writer(mini).boxed(Node("only"))
    with pytest.raises(Unmappable):
        convert.write(types.NewSessionCreated(first_msg_id=1, unique_id=2, server_salt=3), mini)


def test_bytes_that_already_mean_the_same_pass_unchanged() -> None:
    upload_file = (
        struct.pack("<I", 0x096A18D5)
        + tl.write(types.storage.FileUnknown())
        + struct.pack("<i", 0)
        + Bytes(b"x" * 100000)
    )
    for layer in LAYERS:
        assert convert.write(upload_file, schema(layer)) == upload_file
        assert convert.write(b"\xb5\x75\x72\x99", schema(layer)) == b"\xb5\x75\x72\x99"
    # Bytes of a layer-229 user are rewritten.
    data = convert.write(tl.write(bot_user()), schema(198))
    assert read_back(data, 198).name == "user" and data != tl.write(bot_user())


def test_adapt_leaves_undeclared_and_native_layers_to_kurigram() -> None:
    user = bot_user()
    assert adapt.write_answer(user, None) == tl.write(user) == adapt.write_answer(user, 229)
    assert adapt.write_answer(b"raw", None) == b"raw"
    assert adapt.adapt_pushed(b"body", None) == b"body"
    created = tl.write(types.NewSessionCreated(first_msg_id=1, unique_id=2, server_salt=3))
    assert adapt.adapt_pushed(created, 151) == created


def old_request(layer: int, node: Node) -> bytes:
    return Writer(schema(layer)).boxed(node)


def test_an_old_layers_request_is_read_into_kurigrams_class() -> None:
    # updates.getDifference#25939651 (layer 151) has no pts_limit; layer 229's is #19c2f763.
    body = old_request(151, Node("updates.getDifference", {"pts": 7, "date": 9, "qts": 0}, True))
    assert struct.unpack_from("<I", body)[0] == 0x25939651
    with pytest.raises(KeyError):
        tl.read(body)
    query = adapt.read_request(body, 151)
    assert isinstance(query, functions.updates.GetDifference)
    assert (query.pts, query.date, query.qts, query.pts_limit) == (7, 9, 0, None)


@pytest.mark.parametrize("layer", LAYERS)
def test_an_old_layers_thumbnail_request_keeps_its_size_type(layer: int) -> None:
    location = Node(
        "inputDocumentFileLocation",
        {"id": 99, "access_hash": -1, "file_reference": b"\x01ref", "thumb_size": "m"},
    )
    body = old_request(
        layer, Node("upload.getFile", {"location": location, "offset": 0, "limit": 1 << 20}, True)
    )
    query = adapt.read_request(body, layer)
    assert isinstance(query, functions.upload.GetFile)
    assert isinstance(query.location, types.InputDocumentFileLocation)
    assert (query.location.id, query.location.thumb_size, query.limit) == (99, "m", 1 << 20)


def test_the_first_call_declares_its_layer_and_is_read_in_it() -> None:
    inner = Node("updates.getDifference", {"pts": 1, "date": 2, "qts": 3}, True)
    init = Node(
        "initConnection",
        {
            "api_id": 1,
            "device_model": "d",
            "system_version": "s",
            "app_version": "a",
            "system_lang_code": "en",
            "lang_pack": "",
            "lang_code": "en",
            "query": inner,
        },
        True,
    )
    body = old_request(151, Node("invokeWithLayer", {"layer": 151, "query": init}, True))
    assert adapt.declared_layer(body) == 151
    query = adapt.read_request(body, None)
    assert isinstance(query, functions.InvokeWithLayer) and query.layer == 151
    assert isinstance(query.query, functions.InitConnection)
    assert isinstance(query.query.query, functions.updates.GetDifference)
    # Gzip-packed requests are unpacked first.
    assert isinstance(adapt.read_request(tl.gzip_packed(body), None), functions.InvokeWithLayer)


def test_service_messages_are_read_whatever_the_layer() -> None:
    ack = tl.write(types.MsgsAck(msg_ids=[4, 8]))
    assert isinstance(adapt.read_request(ack, 151), types.MsgsAck)
    ping = tl.write(functions.Ping(ping_id=5))
    assert isinstance(adapt.read_request(ping, 198), functions.Ping)


def test_a_request_kurigram_has_no_class_for_is_refused() -> None:
    with pytest.raises(Unmappable):
        convert.build(Node("noSuchMethodAnywhere", {}, True))
