"""Schema-driven TL reading and writing, pure: one codec for every layer's schema.

`Reader` turns bytes into `Node`s (constructor name + fields by name) with a layer's schema.
`Writer` writes any object that names its constructor (a `Node`, or a Kurigram object through
its QUALNAME and attributes) with a layer's schema: fields are taken by name, flags are
recomputed, fields the layer lacks are dropped and fields only the layer has get a neutral
value. What cannot be written raises `Unmappable`; optional fields that cannot be are
dropped and listed in `Writer.dropped`.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from pyrogram.raw.core import Bytes

from .schema import Constructor, Schema, TLType, norm

VECTOR = 0x1CB5C415
BOOL_TRUE = 0x997275B5
BOOL_FALSE = 0xBC799737
GZIP_PACKED = 0x3072CFA1
_MASKS = {"int": 0xFFFFFFFF, "long": 0xFFFFFFFFFFFFFFFF}
# Kurigram renames the TL fields that are Python words (user.self is User.is_self).
_KURIGRAM_NAMES = {"self": "is_self"}


class UnknownConstructor(ValueError):
    def __init__(self, constructor_id: int, layer: int) -> None:
        super().__init__(f"constructor #{constructor_id:08x} is not in layer {layer}")
        self.constructor_id = constructor_id


class Unmappable(ValueError):
    """An object (or a required field of one) that the target layer has no place for."""


@dataclass(slots=True)
class Node:
    """A TL object read by schema: its constructor's name and its fields by name."""

    name: str
    fields: dict[str, Any] = field(default_factory=dict)
    is_function: bool = False


def kurigram_field(name: str) -> str:
    return _KURIGRAM_NAMES.get(name, name)


# --- reading ------------------------------------------------------------------------------


class Reader:
    def __init__(self, schema: Schema, data: bytes) -> None:
        self.schema = schema
        self.data = memoryview(data)
        self.pos = 0

    def read_all(self) -> Any:
        """One boxed object that must span the whole buffer."""
        value = self.boxed()
        if self.pos != len(self.data):
            raise ValueError(f"{len(self.data) - self.pos} bytes left after the object")
        return value

    def _take(self, size: int) -> memoryview:
        if self.pos + size > len(self.data):
            raise ValueError("object overruns the buffer")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def _uint(self) -> int:
        return int.from_bytes(self._take(4), "little")

    def boxed(self) -> Any:
        constructor_id = self._uint()
        if constructor_id in (BOOL_TRUE, BOOL_FALSE):
            return constructor_id == BOOL_TRUE
        if constructor_id == GZIP_PACKED:
            return Reader(self.schema, gzip.decompress(self._bytes())).read_all()
        if constructor_id == VECTOR:
            # An untyped vector (a bare result): its elements are boxed.
            return [self.boxed() for _ in range(self._count())]
        constructor = self.schema.by_id.get(constructor_id)
        if constructor is None:
            raise UnknownConstructor(constructor_id, self.schema.layer)
        return self.fields_of(constructor)

    def fields_of(self, constructor: Constructor) -> Node:
        node = Node(constructor.name, {}, constructor.is_function)
        flags: dict[str, int] = {}
        for param in constructor.params:
            if param.type.name == "#":
                flags[param.name] = self._uint()
                continue
            if param.flag is not None:
                present = bool(flags.get(param.flag[0], 0) >> param.flag[1] & 1)
                if param.type.name == "true":
                    node.fields[param.name] = present
                    continue
                if not present:
                    continue
            node.fields[param.name] = self.value(param.type)
        return node

    def _count(self) -> int:
        count = self._uint()
        if count * 4 > len(self.data) - self.pos:
            raise ValueError(f"vector of {count} elements overruns the buffer")
        return count

    @staticmethod
    def unpack_bytes(data: bytes) -> bytes:
        """The payload of a TL `bytes` value at the start of `data`."""
        return Reader(Schema(0), data)._bytes()

    def _bytes(self) -> bytes:
        # Kurigram's TL `bytes` reader, so the encoding lives in one place.
        stream = BytesIO(self.data[self.pos :])
        try:
            data: bytes = Bytes.read(stream)
        except (IndexError, ValueError) as exc:
            raise ValueError("a TL bytes value overruns the buffer") from exc
        # Kurigram reads a value cut short without complaint; its header then differs from
        # the header of what was read.
        if Bytes(data)[:4] != self.data[self.pos : self.pos + 4]:
            raise ValueError("a TL bytes value overruns the buffer")
        self.pos += stream.tell()
        return data

    def value(self, t: TLType) -> Any:
        name = t.name
        if name == "int":
            return struct.unpack("<i", self._take(4))[0]
        if name == "long":
            return struct.unpack("<q", self._take(8))[0]
        if name == "double":
            return struct.unpack("<d", self._take(8))[0]
        if name == "int128" or name == "int256":
            return int.from_bytes(self._take(16 if name == "int128" else 32), "little")
        if name == "string":
            return self._bytes().decode(errors="replace")
        if name == "bytes":
            return self._bytes()
        if t.is_vector:
            assert t.arg is not None
            if name == "Vector" and self._uint() != VECTOR:
                raise ValueError("expected a vector")
            return [self.value(t.arg) for _ in range(self._count())]
        if t.is_bare_constructor:
            constructor = self.schema.find(name.lstrip("%"), is_function=False)
            if constructor is None:
                raise ValueError(f"bare type {name} is not in layer {self.schema.layer}")
            return self.fields_of(constructor)
        return self.boxed()  # Bool, a boxed type or a generic query


# --- writing ------------------------------------------------------------------------------


def describe(obj: Any) -> tuple[str, bool]:
    """(TL name, is a function) of a Node or a Kurigram object."""
    if isinstance(obj, Node):
        return obj.name, obj.is_function
    qualname = getattr(obj, "QUALNAME", None)
    if not isinstance(qualname, str):
        raise Unmappable(f"{type(obj).__name__} is no TL object")
    kind, _, name = qualname.partition(".")
    return name, kind == "functions"


def get_field(obj: Any, name: str) -> Any:
    if isinstance(obj, Node):
        return obj.fields.get(name)
    return getattr(obj, kurigram_field(name), None)


def _tl_bytes(data: bytes) -> bytes:
    encoded: bytes = Bytes(data)
    return encoded


@dataclass
class Writer:
    schema: Schema
    # Paths of optional fields left out because the layer has no way to say their value.
    dropped: list[str] = field(default_factory=list)

    def boxed(self, obj: Any, path: str = "") -> bytes:
        if isinstance(obj, bool):
            return struct.pack("<I", BOOL_TRUE if obj else BOOL_FALSE)
        if isinstance(obj, list):
            items = [self.boxed(item, f"{path}[{i}]") for i, item in enumerate(obj)]
            return struct.pack("<Ii", VECTOR, len(items)) + b"".join(items)
        name, is_function = describe(obj)
        constructor = self.schema.find(name, is_function)
        if constructor is None:
            raise Unmappable(f"{path or name}: {name} is not in layer {self.schema.layer}")
        return struct.pack("<I", constructor.id) + self.fields(constructor, obj, path or name)

    def fields(self, constructor: Constructor, obj: Any, path: str) -> bytes:
        encoded: dict[str, bytes] = {}
        flags: dict[str, int] = {}
        for param in constructor.params:
            if param.type.name == "#":
                flags[param.name] = 0
                continue
            value = get_field(obj, param.name)
            where = f"{path}.{param.name}"
            if param.flag is None:
                encoded[param.name] = self._required(param.type, value, where)
                continue
            flags_field, bit = param.flag
            if param.type.name == "true":
                if value:
                    flags[flags_field] |= 1 << bit
                continue
            if value is None or (param.type.is_vector and not value):
                continue  # absent, as Kurigram writes an empty optional vector
            try:
                encoded[param.name] = self.value(param.type, value, where)
            except Unmappable:
                self.dropped.append(where)
                continue
            flags[flags_field] |= 1 << bit
        parts = []
        for param in constructor.params:
            if param.type.name == "#":
                parts.append(struct.pack("<I", flags[param.name]))
            elif param.name in encoded:
                parts.append(encoded[param.name])
            elif param.flag is not None and param.type.name != "true":
                flags_field, bit = param.flag
                if flags[flags_field] >> bit & 1:
                    # Some layers share one bit between a flag and a field (layer 151's
                    # user.bot and user.bot_info_version): a set bit needs the field.
                    parts.append(self.neutral(param.type, f"{path}.{param.name}"))
        return b"".join(parts)

    def _required(self, t: TLType, value: Any, where: str) -> bytes:
        if value is not None:
            try:
                return self.value(t, value, where)
            except Unmappable:
                self.dropped.append(where)
        return self.neutral(t, where)

    def neutral(self, t: TLType, where: str) -> bytes:
        """The value a field new to this layer (or unsayable in it) gets: 0, '', false, []."""
        name = t.name
        if name in ("int", "long", "double", "int128", "int256"):
            return self.value(t, 0, where)
        if name in ("string", "bytes"):
            return _tl_bytes(b"")
        if name == "Bool":
            return struct.pack("<I", BOOL_FALSE)
        if t.is_vector:
            return self.value(t, [], where)
        for candidate in sorted(
            self.schema.of_type.get(name, []), key=lambda c: not c.name.endswith("Empty")
        ):
            if all(p.flag is not None or p.type.name == "#" for p in candidate.params):
                return struct.pack("<I", candidate.id) + self.fields(candidate, Node(""), where)
        raise Unmappable(f"{where}: no neutral {name} in layer {self.schema.layer}")

    def value(self, t: TLType, value: Any, where: str) -> bytes:
        name = t.name
        if name in _MASKS or name in ("int128", "int256"):
            if not isinstance(value, int):
                raise Unmappable(f"{where}: {type(value).__name__} is no {name}")
            if name in _MASKS:
                return struct.pack("<I" if name == "int" else "<Q", value & _MASKS[name])
            size = 16 if name == "int128" else 32
            return (value % (1 << (8 * size))).to_bytes(size, "little")
        if name == "double":
            if not isinstance(value, int | float):
                raise Unmappable(f"{where}: {type(value).__name__} is no double")
            return struct.pack("<d", float(value))
        if name in ("string", "bytes"):
            if isinstance(value, str):
                return _tl_bytes(value.encode())
            if isinstance(value, bytes | bytearray | memoryview):
                return _tl_bytes(bytes(value))
            raise Unmappable(f"{where}: {type(value).__name__} is no {name}")
        if name == "Bool":
            if not isinstance(value, bool):
                raise Unmappable(f"{where}: {type(value).__name__} is no Bool")
            return struct.pack("<I", BOOL_TRUE if value else BOOL_FALSE)
        if t.is_vector:
            assert t.arg is not None
            if not isinstance(value, list | tuple):
                raise Unmappable(f"{where}: {type(value).__name__} is no vector")
            items = [self.value(t.arg, item, f"{where}[{i}]") for i, item in enumerate(value)]
            head = struct.pack("<i", len(items))
            return (struct.pack("<I", VECTOR) + head if name == "Vector" else head) + b"".join(
                items
            )
        if t.is_bare_constructor:
            constructor = self.schema.find(name.lstrip("%"), is_function=False)
            if constructor is None or norm(describe(value)[0]) != norm(constructor.name):
                raise Unmappable(f"{where}: no bare {name} in layer {self.schema.layer}")
            return self.fields(constructor, value, where)
        return self.boxed(value, where)
