"""Who the client is: the TCP peer, or the right-most address of X-Forwarded-For that is not a
trusted proxy, and only when the peer itself is one.  Above all: what a client writes into
the header never picks the address its limits are counted under."""

from __future__ import annotations

import ipaddress

from hypothesis import assume, given
from hypothesis import strategies as st

from tgstream.web.client_ip import (
    client_address,
    forwarded_chain,
    limit_key,
    parse_address,
)

TRUSTED = (
    ipaddress.ip_network("127.0.0.1/32"),
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("fd00::/8"),
)


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(address in network for network in TRUSTED)


addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(
    lambda a: parse_address(str(a))
)
proxies = st.one_of(
    st.just(ipaddress.ip_address("127.0.0.1")),
    st.ip_addresses(network="10.0.0.0/8"),
    st.ip_addresses(network="fd00::/8"),
)
outsiders = addresses.filter(lambda a: a is not None and not _trusted(a))
junk = st.one_of(
    st.sampled_from(["", " ", "unknown", "1.2.3.4:80", "[::1]:80", "fe80::1%eth0", "1.2.3"]),
    st.text(max_size=20).filter(lambda t: "," not in t and parse_address(t) is None),
)


def header(chain: list[object]) -> list[str]:
    return [", ".join(str(a) for a in chain)]


@given(outsiders, st.lists(addresses, max_size=6))
def test_an_untrusted_peer_is_the_client_whatever_it_says(
    peer: object, chain: list[object]
) -> None:
    assert client_address(str(peer), header(chain), TRUSTED) == str(peer)


@given(proxies, st.lists(addresses, min_size=1, max_size=6))
def test_without_trusted_proxies_the_header_is_never_read(
    peer: object, chain: list[object]
) -> None:
    assert client_address(str(peer), header(chain), ()) == str(peer)


@given(
    proxies,
    st.lists(st.one_of(addresses, junk), max_size=4),
    outsiders,
    st.lists(proxies, max_size=4),
)
def test_the_client_is_the_first_untrusted_hop_from_the_right(
    peer: object, written_by_client: list[object], client: object, hops: list[object]
) -> None:
    """Whatever the client put in front (well formed or not, trusted-looking or not), the
    proxies' own entries decide: the address the first proxy saw."""
    chain = [*written_by_client, client, *hops]
    if any(parse_address(str(a)) is None for a in written_by_client):
        # A malformed header is not read at all: the peer is the client.
        assert client_address(str(peer), header(chain), TRUSTED) == str(peer)
    else:
        assert client_address(str(peer), header(chain), TRUSTED) == str(client)


@given(proxies, st.lists(proxies, min_size=1, max_size=5))
def test_an_all_trusted_chain_gives_its_left_most_address(
    peer: object, chain: list[object]
) -> None:
    assert client_address(str(peer), header(chain), TRUSTED) == str(chain[0])


@given(proxies, st.lists(addresses, min_size=1, max_size=6), st.data())
def test_header_lines_read_as_one_list_in_order(
    peer: object, chain: list[object], data: st.DataObject
) -> None:
    """HAProxy's `option forwardfor` adds a line of its own after any the client sent."""
    cut = data.draw(st.integers(1, len(chain)))
    lines = [", ".join(str(a) for a in chain[:cut]), ", ".join(str(a) for a in chain[cut:])]
    lines = [line for line in lines if line]
    assert client_address(str(peer), lines, TRUSTED) == client_address(
        str(peer), header(chain), TRUSTED
    )


@given(proxies, st.lists(addresses, max_size=3), junk, st.lists(addresses, max_size=3))
def test_a_malformed_header_falls_back_to_the_peer(
    peer: object, left: list[object], bad: str, right: list[object]
) -> None:
    line = ",".join([*(str(a) for a in left), bad, *(str(a) for a in right)])
    assert client_address(str(peer), [line], TRUSTED) == str(peer)
    assert forwarded_chain([line]) is None


def test_spacing_and_mapped_addresses() -> None:
    assert client_address("127.0.0.1", ["  203.0.113.7 ,10.1.2.3 "], TRUSTED) == "203.0.113.7"
    assert client_address("::ffff:127.0.0.1", ["203.0.113.7"], TRUSTED) == "203.0.113.7"
    assert client_address("127.0.0.1", ["::ffff:203.0.113.7"], TRUSTED) == "203.0.113.7"
    assert client_address("127.0.0.1", ["2001:DB8::1"], TRUSTED) == "2001:db8::1"
    assert client_address("::ffff:198.51.100.1", [], TRUSTED) == "198.51.100.1"


def test_a_peer_that_is_no_address() -> None:
    assert client_address(None, ["203.0.113.7"], TRUSTED) == ""
    assert client_address("/run/tgstream.sock", ["203.0.113.7"], TRUSTED) == "/run/tgstream.sock"
    assert client_address("127.0.0.1", [], TRUSTED) == "127.0.0.1"


@given(st.ip_addresses(v=4))
def test_an_ipv4_client_is_counted_by_its_address(address: ipaddress.IPv4Address) -> None:
    assert limit_key(str(address)) == str(address)


@given(st.ip_addresses(v=6), st.ip_addresses(v=6))
def test_an_ipv6_client_is_counted_by_its_64(
    a: ipaddress.IPv6Address, b: ipaddress.IPv6Address
) -> None:
    assume(a.ipv4_mapped is None and b.ipv4_mapped is None)
    same = int(a) >> 64 == int(b) >> 64
    assert (limit_key(str(a)) == limit_key(str(b))) == same
    assert limit_key(str(a)) == f"{ipaddress.IPv6Address((int(a) >> 64) << 64)}/64"


def test_a_client_that_is_no_address_is_its_own_key() -> None:
    assert limit_key("") == ""
    assert limit_key("/run/tgstream.sock") == "/run/tgstream.sock"
