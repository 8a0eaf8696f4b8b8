"""TL (de)serialization glue over Kurigram's generated `pyrogram.raw` classes."""

from __future__ import annotations

import gzip
import struct
import threading
from io import BytesIO
from typing import Any

from pyrogram.raw.core import TLObject, Vector

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
MSG_CONTAINER = 0x73F1F8DC
RPC_RESULT = 0xF35C6D01
RPC_ERROR = 0x2144CA19
_FUNCTIONS_PREFIX = "pyrogram.raw.functions"


def constructor_of(body: bytes) -> int:
    return int(struct.unpack_from("<I", body, 0)[0]) if len(body) >= 4 else -1


def read(body: bytes) -> Any:
    """Parse one boxed TL object; gzip_packed is unwrapped.  Raises KeyError on an unknown id."""
    if constructor_of(body) == GZIP_PACKED:
        return read(gzip.decompress(_read_tl_bytes(BytesIO(body[4:]))))
    _parsing_request.active = True
    try:
        return TLObject.read(BytesIO(body))
    finally:
        _parsing_request.active = False


def _read_tl_bytes(stream: BytesIO) -> bytes:
    first = stream.read(1)[0]
    if first <= 253:
        length, header = first, 1
    else:
        length, header = int.from_bytes(stream.read(3), "little"), 4
    data = stream.read(length)
    stream.read(-(header + length) % 4)
    return data


def tl_bytes(data: bytes) -> bytes:
    """TL `bytes` encoding (length prefix, padding to 4)."""
    n = len(data)
    head = bytes([n]) if n <= 253 else b"\xfe" + n.to_bytes(3, "little")
    return head + data + bytes(-(len(head) + n) % 4)


def gzip_packed(data: bytes) -> bytes:
    return struct.pack("<I", GZIP_PACKED) + tl_bytes(gzip.compress(data, 6))


def is_function(obj: object) -> bool:
    return type(obj).__module__.startswith(_FUNCTIONS_PREFIX)


def method_name(obj: object) -> str:
    """TL name of a function object, e.g. `upload.getFile` for `functions.upload.GetFile`."""
    qualname: str = getattr(obj, "QUALNAME", type(obj).__name__)
    parts = qualname.split(".")[1:] if qualname.startswith("functions.") else [qualname]
    name = parts[-1]
    name = name[0].lower() + name[1:] if name else name
    return ".".join([*parts[:-1], name])


VECTOR = 0x1CB5C415


def write(obj: TLObject | list[TLObject]) -> bytes:
    """Serialize a boxed object, or a list as a TL Vector of boxed objects."""
    if isinstance(obj, list):
        return struct.pack("<Ii", VECTOR, len(obj)) + b"".join(write(item) for item in obj)
    data: bytes = obj.write()
    return data
