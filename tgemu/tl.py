"""TL (de)serialization glue over Kurigram's generated `pyrogram.raw` classes."""

from __future__ import annotations

import gzip
import struct
import threading
from io import BytesIO
from typing import Any

from pyrogram.raw.core import Bytes, TLObject, Vector

# Kurigram's generated readers parse a Vector<SomeBoxedType> field with no element type and
# guess the element size from the bytes left, so a vector of 4-byte objects (inputUserSelf)
# comes back as ints and one of 8-byte objects (inputMessageID) as longs.  That guess serves
# a client reading bare results; a server reading requests knows every untyped vector in a
# function holds boxed objects, so while the emulator parses a request it reads them as such.
_parsing_request = threading.local()
_guessing_read_bare = Vector.read_bare


def _read_bare(b: BytesIO, size: int) -> Any:
    if getattr(_parsing_request, "active", False):
        return TLObject.read(b)
    return _guessing_read_bare(b, size)


_unchecked_vector_read = Vector.read.__func__


def _vector_read(cls: type, data: BytesIO, t: Any = None, *args: Any) -> Any:
    # Every element takes at least 4 bytes: a count the rest of the message cannot hold is
    # a lie, and believing it would loop for billions of iterations on a 12-byte packet.
    if getattr(_parsing_request, "active", False):
        count = int.from_bytes(data.getbuffer()[data.tell() : data.tell() + 4], "little")
        if count * 4 > len(data.getbuffer()) - data.tell() - 4:
            raise ValueError(f"vector of {count} elements overruns the message")
    return _unchecked_vector_read(cls, data, t, *args)


Vector.read_bare = staticmethod(_read_bare)
Vector.read = classmethod(_vector_read)

GZIP_PACKED = 0x3072CFA1
VECTOR = 0x1CB5C415
_FUNCTIONS_PREFIX = "pyrogram.raw.functions"


def constructor_of(body: bytes) -> int:
    return int.from_bytes(body[:4], "little") if len(body) >= 4 else -1


def read(body: bytes) -> Any:
    """Parse one boxed TL object; gzip_packed is unwrapped.  Raises KeyError on an unknown id."""
    if constructor_of(body) == GZIP_PACKED:
        return read(gzip.decompress(read_tl_bytes(body[4:])))
    _parsing_request.active = True
    try:
        return TLObject.read(BytesIO(body))
    finally:
        _parsing_request.active = False


def read_tl_bytes(data: bytes) -> bytes:
    """The value of the TL `bytes` field at the start of `data`."""
    value: bytes = Bytes.read(BytesIO(data))
    return value


def gzip_packed(data: bytes) -> bytes:
    packed: bytes = Bytes(gzip.compress(data, 6))
    return struct.pack("<I", GZIP_PACKED) + packed


def is_function(obj: object) -> bool:
    return type(obj).__module__.startswith(_FUNCTIONS_PREFIX)


def method_name(obj: object) -> str:
    """TL name of a function object, e.g. `upload.getFile` for `functions.upload.GetFile`."""
    qualname: str = getattr(obj, "QUALNAME", type(obj).__name__)
    parts = qualname.split(".")[1:] if qualname.startswith("functions.") else [qualname]
    name = parts[-1]
    name = name[0].lower() + name[1:] if name else name
    return ".".join([*parts[:-1], name])


def write(obj: TLObject | list[TLObject]) -> bytes:
    """Serialize a boxed object, or a list as a TL Vector of boxed objects."""
    if isinstance(obj, list):
        return struct.pack("<Ii", VECTOR, len(obj)) + b"".join(write(item) for item in obj)
    data: bytes = obj.write()
    return data
