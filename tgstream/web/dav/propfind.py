"""What a PROPFIND asks for (RFC 4918 §9.1), pure: its Depth and its body.

The body is untrusted XML: it is read with the standard library's expat parser, bounded in
size, and any document type declaration is refused outright, so no entity of any kind
(internal, external, parameter) can be declared, let alone expanded.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from xml.parsers import expat

__all__ = [
    "DAV",
    "MAX_BODY",
    "BadPropfind",
    "Depth",
    "DepthInfinity",
    "Propfind",
    "parse_depth",
    "parse_propfind",
]

DAV = "DAV:"
# A PROPFIND body names properties: even a long `prop` list is a few kilobytes.
MAX_BODY = 64 * 1024

# (namespace, local name); the namespace is "" for a name in no namespace.
PropName = tuple[str, str]


class BadPropfind(ValueError):
    """The request is malformed (400), said in words fit for the answer."""


class DepthInfinity(Exception):
    """Depth: infinity, or no Depth (which means infinity): refused with 403 and the
    DAV:propfind-finite-depth precondition (RFC 4918 §9.1)."""


class Depth(enum.IntEnum):
    ZERO = 0
    ONE = 1


def parse_depth(value: str | None) -> Depth:
    """The Depth header of a PROPFIND (RFC 4918 §10.2)."""
    if value is None:
        raise DepthInfinity  # "treated as if Depth: infinity" (§9.1)
    text = value.strip(" \t").lower()
    if text == "0":
        return Depth.ZERO
    if text == "1":
        return Depth.ONE
    if text == "infinity":
        raise DepthInfinity
    raise BadPropfind(f"Depth must be 0, 1 or infinity, got {value[:40]!r}")


@dataclass(frozen=True)
class Propfind:
    """`allprop` (with the `include`d names), `propname`, or `prop` with its names."""

    kind: str  # "allprop" | "propname" | "prop"
    names: tuple[PropName, ...] = ()


ALLPROP = Propfind("allprop")


def _split(name: str) -> PropName:
    namespace, _, local = name.rpartition(" ")
    return namespace, local


def parse_propfind(body: bytes) -> Propfind:
    """The body of a PROPFIND; an empty one means allprop (§9.1)."""
    if not body.strip():
        return ALLPROP
    if len(body) > MAX_BODY:
        raise BadPropfind(f"PROPFIND body over {MAX_BODY} bytes")
    parser = expat.ParserCreate(namespace_separator=" ")
    stack: list[PropName] = []
    root: list[PropName] = []
    kinds: list[str] = []
    names: list[PropName] = []

    def no_doctype(*_: object) -> None:
        raise BadPropfind("document type declarations are not accepted")

    def start(name: str, attributes: dict[str, str]) -> None:
        element = _split(name)
        depth = len(stack)
        if depth == 0:
            root.append(element)
        elif depth == 1 and element[0] == DAV and root[0] == (DAV, "propfind"):
            kinds.append(element[1])
        elif depth == 2 and stack[1] in ((DAV, "prop"), (DAV, "include")):
            names.append(element)
        stack.append(element)

    def end(name: str) -> None:
        stack.pop()

    parser.StartDoctypeDeclHandler = no_doctype
    parser.EntityDeclHandler = no_doctype
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise BadPropfind(f"PROPFIND body is not well-formed XML ({exc})") from None
    if root != [(DAV, "propfind")]:
        raise BadPropfind("PROPFIND body must be a DAV:propfind element")
    chosen = [k for k in kinds if k in ("allprop", "propname", "prop")]
    if len(chosen) != 1:
        raise BadPropfind("DAV:propfind must hold exactly one of allprop, propname, prop")
    kind = chosen[0]
    if kind == "propname":
        return Propfind("propname")
    # For allprop, `names` are the DAV:include list: every property here is live and
    # already in allprop, so they add nothing but are accepted.
    return Propfind(kind, tuple(dict.fromkeys(names)) if kind == "prop" else ())
