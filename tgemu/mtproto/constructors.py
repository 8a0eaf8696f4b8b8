"""TL constructor ids the session rules look at before (or instead of) parsing a message."""

from __future__ import annotations

from typing import Final

MSG_CONTAINER: Final = 0x73F1F8DC
GZIP_PACKED: Final = 0x3072CFA1
RPC_RESULT: Final = 0xF35C6D01
MSGS_ACK: Final = 0x62D6B459
# upload.file: file bytes are already as small as they get, so never gzip_packed.
UPLOAD_FILE: Final = 0x096A18D5

PING: Final = 0x7ABE77EC
PING_DELAY_DISCONNECT: Final = 0xF3427B8C
HTTP_WAIT: Final = 0x9299359F
MSGS_STATE_REQ: Final = 0xDA69FB52
MSG_RESEND_REQ: Final = 0x7D861A08
MSGS_STATE_INFO: Final = 0x04DEB57D
MSGS_ALL_INFO: Final = 0x8CC0D131
MSG_DETAILED_INFO: Final = 0x276D3EC6
MSG_NEW_DETAILED_INFO: Final = 0x809DB6DF
GET_FUTURE_SALTS: Final = 0xB921BD04
RPC_DROP_ANSWER: Final = 0x58E4A740
DESTROY_SESSION: Final = 0xE7512126

# Never content-related, whatever their seqno says.
NOT_CONTENT: Final = frozenset({MSGS_ACK, MSG_CONTAINER})
# Only API queries must be content-related (core.telegram.org/mtproto/description); a client
# may mark these service messages either way (Kurigram sends pings as not content-related),
# so their seqno parity is taken as the client's word.
EITHER_PARITY: Final = frozenset(
    {
        PING,
        PING_DELAY_DISCONNECT,
        HTTP_WAIT,
        MSGS_STATE_REQ,
        MSG_RESEND_REQ,
        MSGS_STATE_INFO,
        MSGS_ALL_INFO,
        MSG_DETAILED_INFO,
        MSG_NEW_DETAILED_INFO,
        GET_FUTURE_SALTS,
        RPC_DROP_ANSWER,
        DESTROY_SESSION,
    }
)
# Service messages the session itself answers (or acts on); every other message is an API call.
SERVICE: Final = frozenset(
    {
        MSGS_ACK,
        PING,
        PING_DELAY_DISCONNECT,
        MSGS_STATE_REQ,
        MSG_RESEND_REQ,
        GET_FUTURE_SALTS,
        RPC_DROP_ANSWER,
        DESTROY_SESSION,
    }
)
# Informational service messages that need no answer and run nothing.
IGNORED: Final = frozenset(
    {HTTP_WAIT, MSGS_STATE_INFO, MSGS_ALL_INFO, MSG_DETAILED_INFO, MSG_NEW_DETAILED_INFO}
)
