"""The WebDAV view's pure parts: month folders and unique names, the PROPFIND request
(Depth and body, untrusted XML included), the Multi-Status answers, Basic auth, the
backfill walk's stop rule and DAV_USERS."""

from __future__ import annotations

import base64
import random
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from tests.support.memory_files import file_info
from tgstream.config import ConfigError, load_settings
from tgstream.store import IndexEntry, month_of
from tgstream.telegram.channel_walk import ChannelWalk
from tgstream.web.conditional import etag_of, last_modified_of
from tgstream.web.dav.auth import authenticated_user
from tgstream.web.dav.multistatus import Resource, entry_etag, folder, multistatus
from tgstream.web.dav.multistatus import propfind_finite_depth as finite_depth_body
from tgstream.web.dav.names import MONTH, folder_names, segment_name, with_id
from tgstream.web.dav.propfind import (
    DAV,
    MAX_BODY,
    BadPropfind,
    Depth,
    DepthInfinity,
    Propfind,
    parse_depth,
    parse_propfind,
)

D = "{DAV:}"


def entry(message_id: int, name: str, posted: int = 1_796_200_000) -> IndexEntry:
    return IndexEntry(
        message_id, 0xABC + message_id, name, 100 + message_id, "video/mp4", 7, posted
    )


# --- months and names ------------------------------------------------------------------------


def test_a_file_is_in_the_folder_of_the_utc_month_it_was_posted_in() -> None:
    assert month_of(1_793_491_199) == "2026-10"  # 2026-10-31 23:59:59 UTC
    assert month_of(1_793_491_200) == "2026-11"  # a second later
    assert month_of(-5) == "1970-01"
    assert entry(1, "a", posted=1_796_200_000).month == "2026-12"
    assert MONTH.fullmatch("2026-12") and not MONTH.fullmatch("2026-13")
    assert not MONTH.fullmatch("2026-1") and not MONTH.fullmatch("../x")


def test_collisions_give_the_later_files_their_message_id() -> None:
    named = folder_names([entry(1234, "clip.mp4"), entry(99, "clip.mp4"), entry(5, "x")])
    assert {n: e.message_id for n, e in named.items()} == {
        "clip.mp4": 99,
        "clip (1234).mp4": 1234,
        "x": 5,
    }
    # Case-folded: "CLIP.MP4" and "clip.mp4" are one name on Windows and macOS.
    named = folder_names([entry(1, "Clip.MP4"), entry(2, "clip.mp4")])
    assert set(named) == {"Clip.MP4", "clip (2).mp4"}
    # A file really called "clip (2).mp4" keeps it; the namesake takes the id twice.
    named = folder_names([entry(1, "clip.mp4"), entry(2, "clip.mp4"), entry(3, "clip (2).mp4")])
    assert {n: e.message_id for n, e in named.items()} == {
        "clip.mp4": 1,
        "clip (2).mp4": 3,
        "clip (2) (2).mp4": 2,
    }


def test_names_fit_one_path_segment() -> None:
    assert segment_name(entry(1, "a/b\\c\nd\x00e.mp4")) == "a_b_c_d_e.mp4"
    for bad in ("", ".", "..", "  "):
        assert segment_name(entry(42, bad)) == "file-42"
    assert with_id("clip.mp4", 7) == "clip (7).mp4"
    assert with_id(".bashrc", 7) == ".bashrc (7)"
    assert with_id("README", 7) == "README (7)"
    assert with_id("a.tar.gz", 7) == "a.tar (7).gz"


names = st.sampled_from(["clip.mp4", "CLIP.mp4", "clip (3).mp4", "a", ".x", "", "a/b", "é.mkv"])


@given(st.lists(st.tuples(st.integers(1, 10_000), names), max_size=12, unique_by=lambda t: t[0]))
def test_folder_names_are_unique_stable_and_order_free(pairs: list[tuple[int, str]]) -> None:
    entries = [entry(i, n) for i, n in pairs]
    named = folder_names(entries)
    assert sorted(e.message_id for e in named.values()) == sorted(i for i, _ in pairs)
    assert len({n.casefold() for n in named}) == len(named)
    assert all("/" not in n and n not in ("", ".", "..") for n in named)
    shuffled = entries[:]
    random.Random(len(pairs)).shuffle(shuffled)
    assert folder_names(shuffled) == named
    # The oldest file of each name keeps it unless a file literally named so holds it.
    literal = {segment_name(e).casefold() for e in entries}
    for e in sorted(entries, key=lambda e: e.message_id):
        plain = segment_name(e)
        same = [o for o in entries if segment_name(o).casefold() == plain.casefold()]
        if e is min(same, key=lambda o: o.message_id):
            assert plain.casefold() in literal
            assert named[plain] == e


# --- PROPFIND requests ---------------------------------------------------------------------


def test_depth_zero_one_and_infinity() -> None:
    assert parse_depth("0") is Depth.ZERO and parse_depth(" 1 ") is Depth.ONE
    for infinite in ("infinity", "Infinity", None):
        with pytest.raises(DepthInfinity):
            parse_depth(infinite)
    for bad in ("2", "", "-1", "one"):
        with pytest.raises(BadPropfind):
            parse_depth(bad)


PROPFIND = '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:">{}</D:propfind>'


def test_propfind_bodies() -> None:
    assert parse_propfind(b"") == Propfind("allprop")
    assert parse_propfind(b"  \r\n") == Propfind("allprop")
    assert parse_propfind(PROPFIND.format("<D:allprop/>").encode()) == Propfind("allprop")
    allprop_include = "<D:allprop/><D:include><D:getetag/></D:include>"
    assert parse_propfind(PROPFIND.format(allprop_include).encode()) == Propfind("allprop")
    assert parse_propfind(PROPFIND.format("<D:propname/>").encode()) == Propfind("propname")
    body = (
        '<propfind xmlns="DAV:" xmlns:x="urn:x"><prop>'
        "<getcontentlength/><x:color/><getetag/><getcontentlength/></prop></propfind>"
    )
    assert parse_propfind(body.encode()) == Propfind(
        "prop", ((DAV, "getcontentlength"), ("urn:x", "color"), (DAV, "getetag"))
    )
    no_namespace = '<D:propfind xmlns:D="DAV:"><D:prop><plain/></D:prop></D:propfind>'
    assert parse_propfind(no_namespace.encode()).names == (("", "plain"),)


@pytest.mark.parametrize(
    "body",
    [
        b"<not xml",
        b"<D:propfind xmlns:D='DAV:'><D:prop></D:propfind>",
        b"<propfind><allprop/></propfind>",  # not in the DAV: namespace
        b"<D:propfind xmlns:D='DAV:'/>",  # none of allprop, propname, prop
        PROPFIND.format("<D:allprop/><D:propname/>").encode(),
        b"<D:lockinfo xmlns:D='DAV:'/>",
        b"<x:propfind xmlns:x='urn:bad' xmlns:y=''/>",
        # Entities of any kind are never declared, so never expanded.
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 '
        b'"&lol;&lol;&lol;&lol;">]><D:propfind xmlns:D="DAV:"><D:prop><D:x>&lol2;</D:x>'
        b"</D:prop></D:propfind>",
        b'<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>',
        b'<!DOCTYPE d SYSTEM "http://example.invalid/d.dtd"><D:propfind xmlns:D="DAV:"/>',
        b"<D:propfind xmlns:D='DAV:'>" + b" " * MAX_BODY + b"<D:allprop/></D:propfind>",
    ],
)
def test_malformed_or_hostile_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(BadPropfind):
        parse_propfind(body)


# --- Multi-Status answers ----------------------------------------------------------------


def parse(body: bytes) -> ET.Element:
    return ET.fromstring(body)


def test_etag_and_last_modified_are_those_of_dl() -> None:
    info = file_info(77, 123_456, date=1_700_000_123)
    indexed = IndexEntry.of(info, posted=1_796_200_000)
    assert entry_etag(indexed) == etag_of(info)
    values = Resource("/2026-12/clip.mp4", "clip.mp4", indexed).values()
    assert values[(DAV, "getlastmodified")] == last_modified_of(info)
    assert values[(DAV, "getlastmodified")] == "Tue, 14 Nov 2023 22:15:23 GMT"


def test_allprop_of_a_folder_and_its_files() -> None:
    files = [entry(1, "a b.mp4"), entry(2, "ü.mkv")]
    named = folder_names(files)
    month = folder("/2026-12/", "2026-12", files)
    members = [Resource(f"/2026-12/{n}", n, e) for n, e in named.items()]
    root = parse(multistatus("/dav", [month, *members], Propfind("allprop")))
    assert root.tag == f"{D}multistatus"
    responses = root.findall(f"{D}response")
    hrefs = [r.findtext(f"{D}href") for r in responses]
    assert hrefs == ["/dav/2026-12/", "/dav/2026-12/a%20b.mp4", "/dav/2026-12/%C3%BC.mkv"]
    folder_prop = responses[0].find(f"{D}propstat/{D}prop")
    assert folder_prop is not None
    assert folder_prop.find(f"{D}resourcetype/{D}collection") is not None
    assert folder_prop.findtext(f"{D}getcontentlength") is None
    assert folder_prop.findtext(f"{D}getlastmodified") == "Thu, 01 Jan 1970 00:00:07 GMT"
    file_prop = responses[1].find(f"{D}propstat/{D}prop")
    assert file_prop is not None
    resourcetype = file_prop.find(f"{D}resourcetype")
    assert resourcetype is not None and list(resourcetype) == []
    assert file_prop.findtext(f"{D}getcontentlength") == "101"
    assert file_prop.findtext(f"{D}getcontenttype") == "video/mp4"
    assert file_prop.findtext(f"{D}getetag") == f'"{0xABC + 1:x}-{101:x}"'
    assert file_prop.findtext(f"{D}displayname") == "a b.mp4"
    assert responses[1].findtext(f"{D}propstat/{D}status") == "HTTP/1.1 200 OK"


def test_named_properties_found_and_not_found() -> None:
    resource = Resource("/2026-12/a", "a", entry(1, "a"))
    asked = Propfind("prop", ((DAV, "getetag"), ("urn:x", "color"), (DAV, "quota-used-bytes")))
    response = parse(multistatus("/dav", [resource], asked)).find(f"{D}response")
    assert response is not None
    found, missing = response.findall(f"{D}propstat")
    assert [c.tag for c in found.find(f"{D}prop") or []] == [f"{D}getetag"]
    assert found.findtext(f"{D}status") == "HTTP/1.1 200 OK"
    missing_prop = missing.find(f"{D}prop")
    assert missing_prop is not None
    assert [c.tag for c in missing_prop] == ["{urn:x}color", f"{D}quota-used-bytes"]
    assert missing.findtext(f"{D}status") == "HTTP/1.1 404 Not Found"
    # Nothing asked that exists: one 404 propstat only.
    nothing = parse(multistatus("/dav", [resource], Propfind("prop", (("", "x"),))))
    statuses = [s.text for s in nothing.iter(f"{D}status")]
    assert statuses == ["HTTP/1.1 404 Not Found"]


def test_propname_lists_names_without_values() -> None:
    root = parse(multistatus("/dav", [Resource("/", "tgstream")], Propfind("propname")))
    prop = root.find(f"{D}response/{D}propstat/{D}prop")
    assert prop is not None
    assert {c.tag for c in prop} == {f"{D}displayname", f"{D}resourcetype"}
    assert all(c.text is None and list(c) == [] for c in prop)


def test_the_finite_depth_precondition_body() -> None:
    root = parse(finite_depth_body())
    assert root.tag == f"{D}error" and root.find(f"{D}propfind-finite-depth") is not None


# --- Basic auth and DAV_USERS ---------------------------------------------------------------


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_basic_auth() -> None:
    users = {"alice": SecretStr("pa:ss"), "bob": SecretStr("b")}
    assert authenticated_user(basic("alice:pa:ss"), users) == "alice"
    assert authenticated_user(basic("bob:b").replace("Basic", "basic"), users) == "bob"
    for header in (
        None,
        "",
        basic("alice:pa"),
        basic("alice:pa:ss "),
        basic("bob:pa:ss"),
        basic("alice"),
        basic(":"),
        "Bearer abc",
        "Basic !!!notbase64",
        "Basic " + "A" * 5000,
    ):
        assert authenticated_user(header, users) is None, header


def settings_with(monkeypatch: pytest.MonkeyPatch, value: str) -> dict[str, SecretStr]:
    monkeypatch.setenv("API_ID", "1")
    monkeypatch.setenv("API_HASH", "0123456789abcdef0123456789abcdef")
    monkeypatch.setenv("BOT_TOKEN", "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi")
    monkeypatch.setenv("BIN_CHANNEL", "-1001234567890")
    monkeypatch.setenv("DAV_USERS", value)
    return load_settings(env_file=None).dav_users


def test_dav_users_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    users = settings_with(monkeypatch, " alice:pa:ss , bob:b,")
    assert {u: p.get_secret_value() for u, p in users.items()} == {"alice": "pa:ss", "bob": "b"}
    assert settings_with(monkeypatch, "") == {}
    for bad, why in (
        ("alice", "pair 1 is not user:password"),
        ("a:x,:secretpw", "pair 2 is not user:password"),
        ("a:x,b:", "pair 2 is not user:password"),
        ("a:x,a:y", "pair 2 repeats the user 'a'"),
    ):
        with pytest.raises(ConfigError) as error:
            settings_with(monkeypatch, bad)
        assert str(error.value) == f"DAV_USERS: {why}"
        assert "secretpw" not in str(error.value)


# --- the backfill's walk --------------------------------------------------------------------


def walk_over(present: set[int], known_last: int = 0, gap: int = 250) -> list[list[int]]:
    walk = ChannelWalk(known_last=known_last, gap=gap)
    batches = []
    while not walk.done:
        ids = walk.batch()
        batches.append(ids)
        walk.saw(ids, [i for i in ids if i in present])
    return batches


def test_the_walk_ends_a_gap_past_the_last_message() -> None:
    batches = walk_over({1, 2, 3, 150, 151})
    asked = [i for b in batches for i in b]
    assert asked == list(range(1, 151 + 250 + 1))  # each id once, in order
    assert all(1 <= len(b) <= 100 for b in batches)
    # A hole longer than the gap inside what the state already knows is walked through.
    asked = [i for b in walk_over({1, 900}, known_last=900) for i in b]
    assert asked[-1] == 900 + 250
    # A hole longer than the gap past everything known ends the walk early: the documented
    # limit (a larger gap reaches it).
    assert [i for b in walk_over({1, 600}) for i in b][-1] == 251
    assert [i for b in walk_over({1, 600}, gap=600) for i in b][-1] == 1200
    assert walk_over(set(), gap=1) == [[1]]


def test_the_walk_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        ChannelWalk(gap=0)
    with pytest.raises(ValueError):
        ChannelWalk(batch_size=101)
