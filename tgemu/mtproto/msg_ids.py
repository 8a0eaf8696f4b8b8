"""msg_id rules: checking a client's, minting the server's (core.telegram.org/mtproto/description).

A msg_id is unix time * 2^32 with the low two bits naming the sender and kind: 0 for a client
message, 1 for a server response, 3 for any other server message.
"""

from __future__ import annotations

from dataclasses import dataclass

from .codes import MSG_ID_BAD_LOW_BITS, MSG_ID_TOO_HIGH, MSG_ID_TOO_LOW

# A client msg_id may lag the server clock by 300 s and lead it by 30 s.
PAST_WINDOW = 300
FUTURE_WINDOW = 30


def check_client_msg_id(msg_id: int, now: float) -> int | None:
    """bad_msg_notification code for a client msg_id out of time or not divisible by 4."""
    if msg_id % 4:
        return MSG_ID_BAD_LOW_BITS
    seconds = msg_id / 2**32
    if seconds < now - PAST_WINDOW:
        return MSG_ID_TOO_LOW
    if seconds > now + FUTURE_WINDOW:
        return MSG_ID_TOO_HIGH
    return None


def server_msg_id(now: float, is_response: bool) -> int:
    """A server msg_id for `now`, before any monotonicity is enforced."""
    return (int(now * 2**32) & ~3) | (1 if is_response else 3)


@dataclass(slots=True)
class MsgIdClock:
    """Server msg_ids of one session: from the clock, strictly increasing."""

    last: int = 0

    def next(self, now: float, is_response: bool) -> int:
        low = 1 if is_response else 3
        candidate = server_msg_id(now, is_response)
        if candidate <= self.last:
            candidate = (((self.last >> 2) + 1) << 2) | low
        self.last = candidate
        return candidate
