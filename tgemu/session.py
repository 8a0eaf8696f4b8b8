"""One MTProto session (auth key + session_id): msg_id and seqno bookkeeping, sans-I/O.

The checks follow core.telegram.org/mtproto/service_messages_about_messages: a client
message whose msg_id or seqno is wrong is answered with bad_msg_notification and not run.
"""

from __future__ import annotations

import bisect
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .connection import Connection
    from .store import AuthKey

# bad_msg_notification error codes (service_messages_about_messages).
MSG_ID_TOO_LOW = 16
MSG_ID_TOO_HIGH = 17
MSG_ID_BAD_LOW_BITS = 18
CONTAINER_MSG_ID_REUSED = 19
SEQNO_TOO_LOW = 32
SEQNO_TOO_HIGH = 33
SEQNO_EXPECTED_EVEN = 34
SEQNO_EXPECTED_ODD = 35
BAD_SERVER_SALT = 48
INVALID_CONTAINER = 64

_REMEMBERED = 2048
# Unacknowledged server messages kept for resending on the session's next connection.
_RESEND_BUDGET = 24 * 1024 * 1024


def check_msg_id_time(msg_id: int, now: float | None = None) -> int | None:
    """Error code for a client msg_id outside [now - 300 s, now + 30 s] or not divisible by 4."""
    if msg_id % 4:
        return MSG_ID_BAD_LOW_BITS
    seconds = msg_id / 2**32
    now = time.time() if now is None else now
    if seconds < now - 300:
        return MSG_ID_TOO_LOW
    if seconds > now + 30:
        return MSG_ID_TOO_HIGH
    return None


@dataclass(slots=True)
class Outgoing:
    msg_id: int
    seqno: int
    body: bytes


@dataclass
class MTSession:
    key: AuthKey
    session_id: int
    dc: int
    unique_id: int
    connection: Connection | None = None
    created_sent: bool = False
    wants_updates: bool = False
    layer: int | None = None
    last_msg_id: int = 0
    content_sent: int = 0
    # (msg_id, seqno) of recent client messages, sorted by msg_id, for the seqno checks.
    received: list[tuple[int, int]] = field(default_factory=list)
    unacked: OrderedDict[int, Outgoing] = field(default_factory=OrderedDict)
    unacked_bytes: int = 0

    def next_msg_id(self, is_response: bool) -> int:
        low = 1 if is_response else 3
        candidate = (int(time.time() * 2**32) & ~3) | low
        if candidate <= self.last_msg_id:
            candidate = (((self.last_msg_id >> 2) + 1) << 2) | low
        self.last_msg_id = candidate
        return candidate

    def next_seqno(self, content_related: bool) -> int:
        if content_related:
            self.content_sent += 1
            return self.content_sent * 2 - 1
        return self.content_sent * 2

    def seen(self, msg_id: int) -> bool:
        index = bisect.bisect_left(self.received, (msg_id, -(2**31)))
        return index < len(self.received) and self.received[index][0] == msg_id

    def check_seqno(self, msg_id: int, seqno: int, content_related: bool) -> int | None:
        """The spec's seqno errors; remembers the message when it passes."""
        if content_related and seqno % 2 == 0:
            return SEQNO_EXPECTED_ODD
        if not content_related and seqno % 2 == 1:
            return SEQNO_EXPECTED_EVEN
        index = bisect.bisect_left(self.received, (msg_id, -(2**31)))
        # 32: an earlier msg_id already carried a higher seqno (or the same odd one).
        for _, earlier_seqno in self.received[max(0, index - 64) : index]:
            if earlier_seqno > seqno or (earlier_seqno == seqno and seqno % 2):
                return SEQNO_TOO_LOW
        # 33: a later msg_id already carried a lower seqno (or the same odd one).
        for _, later_seqno in self.received[index : index + 64]:
            if later_seqno < seqno or (later_seqno == seqno and seqno % 2):
                return SEQNO_TOO_HIGH
        self.received.insert(index, (msg_id, seqno))
        if len(self.received) > _REMEMBERED:
            del self.received[: _REMEMBERED // 2]
        return None

    def state_of(self, msg_id: int) -> int:
        """msgs_state_info's answer: 1 unknown (too old), 2 not received, 3 not received
        (msg_id above everything seen), 4 received."""
        if self.seen(msg_id):
            return 4
        if not self.received or msg_id < self.received[0][0]:
            return 1
        if msg_id > self.received[-1][0]:
            return 3
        return 2

    def too_old(self, msg_id: int) -> bool:
        # Older than everything remembered: the server cannot tell whether it is a repeat.
        return len(self.received) >= _REMEMBERED // 2 and msg_id < self.received[0][0]

    def remember_unacked(self, out: Outgoing) -> None:
        self.unacked[out.msg_id] = out
        self.unacked_bytes += len(out.body)
        while self.unacked_bytes > _RESEND_BUDGET and self.unacked:
            _, dropped = self.unacked.popitem(last=False)
            self.unacked_bytes -= len(dropped.body)

    def ack(self, msg_ids: list[int]) -> None:
        for msg_id in msg_ids:
            out = self.unacked.pop(msg_id, None)
            if out is not None:
                self.unacked_bytes -= len(out.body)
