"""The emulator's three entry points into layers: read a request, write an answer, adapt a
pushed update, each for the layer the client declared (None: not declared, layer 229)."""

from __future__ import annotations

import gzip
import logging
from typing import Any

from .. import tl
from . import convert
from .schema import Schema
from .sources import SchemaMissing, schema_for
from .wire import Reader, Unmappable

log = logging.getLogger("tgemu.layers")
INVOKE_WITH_LAYER = 0xDA9B0D0D
# MTProto's own pushed messages, the same in every layer.
_SERVICE = frozenset({0x9EC20908})  # new_session_created
_warned: set[int] = set()


def declared_layer(body: bytes) -> int | None:
    """The layer an invokeWithLayer body names, else None."""
    if tl.constructor_of(body) == INVOKE_WITH_LAYER and len(body) >= 8:
        return int.from_bytes(body[4:8], "little", signed=True)
    return None


def schema_of(layer: int | None) -> Schema | None:
    """The schema answers to `layer` are written in; None for Kurigram's own."""
    if layer is None:
        return None
    try:
        return schema_for(layer)
    except SchemaMissing as exc:
        if layer not in _warned:
            _warned.add(layer)
            log.warning("answering layer %s in layer 229: %s", layer, exc)
        return None


def read_request(body: bytes, layer: int | None) -> Any:
    """A client message as Kurigram's layer-229 object; raises as `tl.read` does."""
    if tl.constructor_of(body) == tl.GZIP_PACKED:
        body = gzip.decompress(Reader.unpack_bytes(body[4:]))
    schema = schema_of(declared_layer(body) or layer)
    if schema is None:
        return tl.read(body)
    try:
        node = Reader(schema, body).read_all()
    except ValueError:
        # MTProto's own messages (msgs_ack, ping, ...) are in no API layer's schema.
        return tl.read(body)
    return convert.build(node)


def write_answer(result: Any, layer: int | None) -> bytes:
    """A handler's result (object, list or bytes) in the client's layer."""
    schema = schema_of(layer)
    if schema is None:
        return result if isinstance(result, bytes) else tl.write(result)
    return convert.write(result, schema)


def adapt_pushed(body: bytes, layer: int | None) -> bytes:
    """An update the server pushes, in the client's layer (unchanged if it has no place)."""
    schema = schema_of(layer)
    if schema is None or tl.constructor_of(body) in _SERVICE:
        return body
    try:
        return convert.write(body, schema)
    except (Unmappable, ValueError, KeyError) as exc:
        log.info("update sent in layer 229 to a layer-%s client: %s", layer, exc)
        return body
