"""The client messages a session has accepted, for duplicate, seqno and msgs_state_req checks."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from .codes import (
    SEQNO_EXPECTED_EVEN,
    SEQNO_EXPECTED_ODD,
    SEQNO_TOO_HIGH,
    SEQNO_TOO_LOW,
    STATE_NOT_RECEIVED,
    STATE_NOT_RECEIVED_ABOVE,
    STATE_RECEIVED,
    STATE_UNKNOWN,
)

# How many (msg_id, seqno) pairs are remembered; the older half is forgotten at the cap.
REMEMBERED = 2048
# How many neighbours on each side a new message's seqno is compared with.
NEIGHBOURS = 64
_LOWEST_SEQNO = -(2**31)


@dataclass(slots=True)
class ReceivedWindow:
    # (msg_id, seqno) of recent client messages, sorted by msg_id.
    entries: list[tuple[int, int]] = field(default_factory=list)

    def _index(self, msg_id: int) -> int:
        return bisect.bisect_left(self.entries, (msg_id, _LOWEST_SEQNO))

    def seen(self, msg_id: int) -> bool:
        index = self._index(msg_id)
        return index < len(self.entries) and self.entries[index][0] == msg_id

    def too_old(self, msg_id: int) -> bool:
        """Older than everything remembered: whether it is a repeat can no longer be told."""
        return len(self.entries) >= REMEMBERED // 2 and msg_id < self.entries[0][0]

    def accept(self, msg_id: int, seqno: int, content_related: bool) -> int | None:
        """The spec's seqno error for this message, or None after remembering it.

        A content-related message has an odd seqno, any other an even one; seqnos grow with
        msg_ids, and two content-related messages never share one.
        """
        if content_related and seqno % 2 == 0:
            return SEQNO_EXPECTED_ODD
        if not content_related and seqno % 2 == 1:
            return SEQNO_EXPECTED_EVEN
        index = self._index(msg_id)
        for _, earlier in self.entries[max(0, index - NEIGHBOURS) : index]:
            if earlier > seqno or (earlier == seqno and seqno % 2):
                return SEQNO_TOO_LOW
        for _, later in self.entries[index : index + NEIGHBOURS]:
            if later < seqno or (later == seqno and seqno % 2):
                return SEQNO_TOO_HIGH
        self.entries.insert(index, (msg_id, seqno))
        if len(self.entries) > REMEMBERED:
            del self.entries[: REMEMBERED // 2]
        return None

    def state_of(self, msg_id: int) -> int:
        """msgs_state_info's byte for one msg_id."""
        if self.seen(msg_id):
            return STATE_RECEIVED
        if not self.entries or msg_id < self.entries[0][0]:
            return STATE_UNKNOWN
        if msg_id > self.entries[-1][0]:
            return STATE_NOT_RECEIVED_ABOVE
        return STATE_NOT_RECEIVED
