"""Kurigram's layer-229 objects <-> a client's layer, by constructor and field names.

Answers: a Kurigram object (or the bytes a handler wrote) is written with the client's
schema. Requests: read with the client's schema into `Node`s, then built into Kurigram
classes by name, so the handlers only ever see layer 229.
"""

from __future__ import annotations

import functools
import inspect
import logging
from io import BytesIO
from typing import Any

from pyrogram.raw.all import objects as kurigram_objects
from pyrogram.raw.core import TLObject

from .schema import Schema, norm
from .wire import Node, Reader, Unmappable, Writer, kurigram_field

log = logging.getLogger("tgemu.layers")
_NEUTRAL = {"int": 0, "float": 0.0, "str": "", "bytes": b"", "bool": False}


def write(obj: Any, schema: Schema) -> bytes:
    """An answer (object, list or bytes at layer 229) in the schema's layer."""
    if isinstance(obj, bytes | bytearray | memoryview):
        data = bytes(obj)
        try:
            # Bytes that read whole in the client's schema already mean the same there:
            # a constructor id is the checksum of its declaration (upload.file, Bool).
            Reader(schema, data).read_all()
            return data
        except ValueError:
            obj = TLObject.read(BytesIO(data))
    writer = Writer(schema)
    data = writer.boxed(obj)
    if writer.dropped:
        log.info(
            "layer %s has no place for %s", schema.layer, ", ".join(sorted(set(writer.dropped)))
        )
    return data


def read(body: bytes, schema: Schema) -> Any:
    """A request written in the schema's layer, as Kurigram's layer-229 object."""
    return build(Reader(schema, body).read_all())


def build(value: Any) -> Any:
    if isinstance(value, list):
        return [build(item) for item in value]
    if not isinstance(value, Node):
        return value
    cls = _kurigram_class(value.name, value.is_function)
    kwargs: dict[str, Any] = {}
    fields = {kurigram_field(name): item for name, item in value.fields.items()}
    for name, parameter in _parameters(cls):
        if name in fields:
            kwargs[name] = build(fields[name])
        elif parameter.default is inspect.Parameter.empty:
            kwargs[name] = _neutral(cls, name, str(parameter.annotation))
    return cls(**kwargs)


def _neutral(cls: type, name: str, annotation: str) -> Any:
    """A required layer-229 field an older request lacks: 0, '', b'', false or []."""
    if annotation.startswith("list"):
        return []
    if annotation in _NEUTRAL:
        return _NEUTRAL[annotation]
    raise Unmappable(f"{cls.__name__}.{name} ({annotation}) has no neutral value")


@functools.cache
def _parameters(cls: type) -> tuple[tuple[str, inspect.Parameter], ...]:
    # The class's signature is its __init__'s without `self`.
    return tuple(inspect.signature(cls).parameters.items())


def _kurigram_class(name: str, is_function: bool) -> type:
    cls = _kurigram_index().get((norm(name), is_function))
    if cls is None:
        raise Unmappable(f"{name} has no layer-229 counterpart in Kurigram")
    return cls


@functools.cache
def _kurigram_index() -> dict[tuple[str, bool], type]:
    """(normalised TL name, is a function) -> Kurigram class, from its id table."""
    index: dict[tuple[str, bool], type] = {}
    for cls in kurigram_objects.values():
        # Kurigram's id table holds the classes once pyrogram.raw is imported.
        qualname = getattr(cls, "QUALNAME", "")
        kind, _, name = qualname.partition(".")
        if kind in ("types", "functions") and isinstance(cls, type):
            index[(norm(name), kind == "functions")] = cls
    return index
