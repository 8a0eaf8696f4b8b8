"""Server messages of a session: numbering, containers, and unacknowledged ones to resend."""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from .constructors import MSG_CONTAINER

# Unacknowledged server messages kept for resending on the session's next connection.
RESEND_BUDGET = 24 * 1024 * 1024
_CONTAINER_HEAD = struct.Struct("<Ii")
_INNER_HEAD = struct.Struct("<qiI")


@dataclass(frozen=True, slots=True)
class Send:
    """One message the session is to send.

    `paced` ones wait for the DC's latency first (answers); the others go out at once
    (notifications about the client's own messages).
    """

    body: bytes
    content_related: bool
    is_response: bool
    paced: bool = False


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A numbered server message, ready to encrypt."""

    msg_id: int
    seqno: int
    body: bytes


def pack_container(messages: list[Outgoing]) -> bytes:
    parts = [_CONTAINER_HEAD.pack(MSG_CONTAINER, len(messages))]
    for out in messages:
        parts.append(_INNER_HEAD.pack(out.msg_id, out.seqno, len(out.body)))
        parts.append(out.body)
    return b"".join(parts)


@dataclass(slots=True)
class Unacked:
    """Content-related messages the client has not acknowledged, oldest first, within a budget."""

    messages: OrderedDict[int, Outgoing] = field(default_factory=OrderedDict)
    size: int = 0

    def remember(self, out: Outgoing) -> None:
        self.messages[out.msg_id] = out
        self.size += len(out.body)
        while self.size > RESEND_BUDGET and self.messages:
            _, dropped = self.messages.popitem(last=False)
            self.size -= len(dropped.body)

    def ack(self, msg_ids: list[int]) -> None:
        for msg_id in msg_ids:
            out = self.messages.pop(msg_id, None)
            if out is not None:
                self.size -= len(out.body)

    def get(self, msg_id: int) -> Outgoing | None:
        return self.messages.get(msg_id)

    def __iter__(self) -> Iterator[Outgoing]:
        return iter(list(self.messages.values()))

    def __len__(self) -> int:
        return len(self.messages)
