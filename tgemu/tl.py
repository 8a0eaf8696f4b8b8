"""TL (de)serialization glue over Kurigram's generated `pyrogram.raw` classes."""

from __future__ import annotations

import gzip
import struct
from io import BytesIO
from typing import Any

from pyrogram.raw.core import TLObject

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
    return TLObject.read(BytesIO(body))


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


def write(obj: TLObject) -> bytes:
    data: bytes = obj.write()
    return data
