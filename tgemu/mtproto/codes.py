"""Numbers the session rules answer with.

From core.telegram.org/mtproto/service_messages_about_messages.
"""

from __future__ import annotations

from typing import Final

# bad_msg_notification error codes.
MSG_ID_TOO_LOW: Final = 16
MSG_ID_TOO_HIGH: Final = 17
MSG_ID_BAD_LOW_BITS: Final = 18
CONTAINER_MSG_ID_REUSED: Final = 19
MSG_TOO_OLD: Final = 20
SEQNO_TOO_LOW: Final = 32
SEQNO_TOO_HIGH: Final = 33
SEQNO_EXPECTED_EVEN: Final = 34
SEQNO_EXPECTED_ODD: Final = 35
BAD_SERVER_SALT: Final = 48
INVALID_CONTAINER: Final = 64

# msgs_state_info answers, one byte per asked msg_id.
STATE_UNKNOWN: Final = 1
STATE_NOT_RECEIVED: Final = 2
STATE_NOT_RECEIVED_ABOVE: Final = 3
STATE_RECEIVED: Final = 4
