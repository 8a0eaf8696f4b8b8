"""rpc_result bodies: the answer to a client's query, gzip_packed when that makes it smaller."""

from __future__ import annotations

import struct

from pyrogram.raw import types

from ..tl import constructor_of, gzip_packed, write
from .constructors import RPC_RESULT, UPLOAD_FILE
from .outgoing import Send

GZIP_MIN = 256
_HEAD = struct.Struct("<Iq")


def rpc_result(req_msg_id: int, result: bytes) -> Send:
    """The paced, content-related answer to query `req_msg_id` carrying `result`."""
    if len(result) >= GZIP_MIN and constructor_of(result) != UPLOAD_FILE:
        packed = gzip_packed(result)
        if len(packed) < len(result):
            result = packed
    return Send(
        _HEAD.pack(RPC_RESULT, req_msg_id) + result,
        content_related=True,
        is_response=True,
        paced=True,
    )


def rpc_error(code: int, message: str) -> bytes:
    return write(types.RpcError(error_code=code, error_message=message))
