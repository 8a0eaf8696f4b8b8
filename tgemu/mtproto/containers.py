"""Reading a client's msg_container (core.telegram.org/mtproto/service_messages)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..tl import constructor_of
from .constructors import MSG_CONTAINER

# Telegram's cap on messages in one container.
MAX_MESSAGES = 1024
_COUNT = struct.Struct("<i")
_INNER_HEAD = struct.Struct("<qiI")


class InvalidContainer(ValueError):
    """The container is malformed; answered with bad_msg_notification code 64."""


@dataclass(frozen=True, slots=True)
class Inner:
    msg_id: int
    seqno: int
    body: bytes


def parse_container(msg_id: int, body: bytes) -> list[Inner]:
    """The messages of a container whose own msg_id is `msg_id`.

    Every length must add up exactly, no message may be a container itself, and every one
    must be older than the container.
    """
    inner: list[Inner] = []
    try:
        (count,) = _COUNT.unpack_from(body, 4)
        if not 0 <= count <= MAX_MESSAGES:
            raise InvalidContainer(f"container of {count} messages")
        offset = 8
        for _ in range(count):
            inner_id, inner_seqno, length = _INNER_HEAD.unpack_from(body, offset)
            offset += _INNER_HEAD.size
            inner_body = body[offset : offset + length]
            if len(inner_body) != length or length % 4:
                raise InvalidContainer("inner message overruns the container")
            offset += length
            inner.append(Inner(inner_id, inner_seqno, inner_body))
    except struct.error:
        raise InvalidContainer("container cut short") from None
    if offset != len(body):
        raise InvalidContainer("container length mismatch")
    for message in inner:
        if constructor_of(message.body) == MSG_CONTAINER or message.msg_id >= msg_id:
            raise InvalidContainer("invalid nested message")
    return inner
