"""Who the client is, for limits kept per client: the TCP peer, or what a trusted proxy in
front of it says in X-Forwarded-For.

Pure: the peer's address, the header's lines and the trusted networks in, one address out.

X-Forwarded-For is a list each proxy appends its own peer to, so only its right end is
written by proxies we know; anything to the left of the first address we do not trust was
written by someone we cannot vouch for, the client itself included.  Hence the usual walk
from the right, skipping trusted proxies, stopping at the first address that is not one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# A viewer on IPv6 is usually handed a whole /64 and may use any address in it at will:
# limits counted per address would be limits per request.
IPV6_CLIENT_PREFIX = 64


def parse_address(text: str) -> IPAddress | None:
    """`text` as an IP address (an IPv4-mapped IPv6 one as the IPv4 it maps), else None.

    Zone ids ("fe80::1%eth0") are refused: no proxy writes one for a remote client."""
    text = text.strip()
    if not text or "%" in text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: IPAddress, trusted: Iterable[IPNetwork]) -> bool:
    # `in` across versions is simply False, so mixed lists need no sorting out.
    return any(address in network for network in trusted)


def forwarded_chain(lines: Sequence[str]) -> list[IPAddress] | None:
    """The addresses of X-Forwarded-For, its lines joined in order (RFC 9110 §5.3); None if
    any entry is not a bare IP address (a port, a name, "unknown", an empty entry)."""
    chain: list[IPAddress] = []
    for line in lines:
        for entry in line.split(","):
            address = parse_address(entry)
            if address is None:
                return None
            chain.append(address)
    return chain


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]
) -> str:
    """The client's address as text: the peer's, unless the peer is a trusted proxy and
    X-Forwarded-For (all its lines, in order) is well formed; then the right-most address in
    it that is not itself trusted, or its left-most if every one is.

    A peer that is not an IP address (a Unix socket, none at all) is returned as it is, or
    as "" when there is none: the limits then apply to all such clients together."""
    if peer is None:
        return ""
    address = parse_address(peer)
    if address is None:
        return peer
    if not forwarded_for or not is_trusted(address, trusted):
        return str(address)
    chain = forwarded_chain(forwarded_for)
    if not chain:
        return str(address)
    for hop in reversed(chain):
        if not is_trusted(hop, trusted):
            return str(hop)
    return str(chain[0])


def limit_key(client: str) -> str:
    """What limits are counted under for `client`: its address, or for IPv6 its /64."""
    address = parse_address(client)
    if isinstance(address, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False)
        return str(network)
    return client
