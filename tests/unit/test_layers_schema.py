"""The TL schema parser and the choice of schema per declared layer (tgemu/layers)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from tgemu.layers import sources
from tgemu.layers.schema import TLType, norm, parse, parse_line, parse_param

SAMPLE = """
// a comment line
boolFalse#bc799737 = Bool;
vector#1cb5c415 {t:Type} # [ t ] = Vector t;
peerUser#59511722 user_id:long = Peer;
thing#0000abcd flags:# big:flags.0?true name:flags.1?string ids:Vector<long> peer:Peer = Thing;
---functions---
invokeWithLayer#da9b0d0d {X:Type} layer:int query:!X = X;
things.get#1234 id:vector<int> = Vector<Thing>; // trailing comment
"""


def test_parse_reads_constructors_functions_flags_and_skips_builtins() -> None:
    schema = parse(SAMPLE, 7)
    assert schema.layer == 7
    assert sorted(c.name for c in schema.by_id.values()) == [
        "invokeWithLayer",
        "peerUser",
        "thing",
        "things.get",
    ]
    thing = schema.by_id[0xABCD]
    assert not thing.is_function and thing.result == "Thing"
    assert [(p.name, p.type.name, p.flag) for p in thing.params] == [
        ("flags", "#", None),
        ("big", "true", ("flags", 0)),
        ("name", "string", ("flags", 1)),
        ("ids", "Vector", None),
        ("peer", "Peer", None),
    ]
    assert thing.params[3].type == TLType("Vector", TLType("long"))
    invoke = schema.find("invokeWithLayer", is_function=True)
    assert invoke is not None and invoke.id == 0xDA9B0D0D
    assert [p.name for p in invoke.params] == ["layer", "query"]
    assert invoke.params[1].type.is_generic
    get = schema.functions[norm("things.get")]
    assert get.params[0].type == TLType("vector", TLType("int")) and get.result == "Vector<Thing>"
    assert schema.find("thing", is_function=True) is None
    assert [c.name for c in schema.of_type["Peer"]] == ["peerUser"]


def test_names_match_across_case_and_underscores() -> None:
    assert norm("inputPeerEmpty") == norm("InputPeerEmpty") == norm("input_peer_empty")
    assert norm("messages.getMessages") == norm("messages.GetMessages")


def test_line_and_field_shapes() -> None:
    assert parse_line("not a declaration", False) is None
    assert parse_line("true#3fedd339 = True;", False) is None
    assert parse_param("{X:Type}") is None
    assert parse_param("x:flags2.30?Vector<int>") is not None
    with pytest.raises(ValueError):
        parse_param("nocolon")
    assert TLType("%Message").is_bare_constructor and TLType("future_salt").is_bare_constructor
    assert not TLType("storage.FileType").is_bare_constructor
    assert not TLType("Bool").is_bare_constructor and not TLType("true").is_bare_constructor


@pytest.mark.parametrize(
    ("declared", "served"),
    [(100, 151), (151, 151), (157, 151), (158, 158), (197, 158), (198, 198), (228, 198)],
)
def test_a_declared_layer_gets_the_newest_schema_not_above_it(declared: int, served: int) -> None:
    source = sources.source_for(declared)
    assert source is not None and source.layer == served


@pytest.mark.parametrize("declared", [229, 230, 300])
def test_layer_229_and_above_are_kurigrams_own(declared: int) -> None:
    assert sources.source_for(declared) is None and sources.schema_for(declared) is None


def _pyrogram_sdist(path: Path, layer: int) -> None:
    text = f"{SAMPLE}\n// LAYER {layer}\n".encode()
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("Pyrogram-x/compiler/api/source/main_api.tl")
        info.size = len(text)
        archive.addfile(info, io.BytesIO(text))


def test_load_reads_a_pyrogram_sdist_and_a_gramjs_module(tmp_path: Path) -> None:
    _pyrogram_sdist(tmp_path / "old.tar.gz", 151)
    schema = sources.load(sources.Source(151, "sdist", "old.tar.gz"), tmp_path)
    assert schema.layer == 151 and 0xABCD in schema.by_id
    js = tmp_path / "tl"
    js.mkdir()
    (js / "apiTl.js").write_text(f'"use strict";\nmodule.exports = `{SAMPLE}`;\n')
    (js / "AllTLObjects.js").write_text("exports.LAYER = 198;\n")
    schema = sources.load(sources.Source(198, "npm", "tl/apiTl.js"), tmp_path)
    assert schema.layer == 198 and 0xDA9B0D0D in schema.by_id


def test_load_refuses_a_missing_file_or_another_layer(tmp_path: Path) -> None:
    with pytest.raises(sources.SchemaMissing):
        sources.load(sources.Source(151, "sdist", "absent.tar.gz"), tmp_path)
    _pyrogram_sdist(tmp_path / "other.tar.gz", 150)
    with pytest.raises(sources.SchemaMissing, match="layer 150"):
        sources.load(sources.Source(151, "sdist", "other.tar.gz"), tmp_path)


@pytest.mark.parametrize(
    ("layer", "user", "config"),
    [(151, 0x8F97C628, 0x232566AC), (158, None, None), (198, 0x4B46C37E, 0xCC1A241E)],
)
def test_the_installed_peer_schemas_are_the_pinned_layers(
    layer: int, user: int | None, config: int | None
) -> None:
    schema = sources.schema_for(layer)
    assert schema is not None and schema.layer == layer
    assert schema.find("invokeWithLayer", is_function=True) is not None
    found_user, found_config = schema.find("user", False), schema.find("config", False)
    assert found_user is not None and found_config is not None
    if user is not None:
        assert (found_user.id, found_config.id) == (user, config)
    # None of them is layer 229's user#b1b8cc83.
    assert found_user.id != 0xB1B8CC83
