"""A raw MTProto 2.0 client for black-box tests of the emulator, by layer, bottom up:

* `transports`: the framing of every TCP transport behind one `Framing` abstraction (pure);
* `connection`: `WireConnection`, one asyncio TCP connection speaking one of them;
* `messages`: msg_ids, the unencrypted and encrypted envelopes and the receiver's checks and
  unwrapping (pure);
* `handshake`: `KeyExchange`, auth key creation with RSA_PAD or the legacy scheme;
* `session`: `Session`, an encrypted session with every header field under the caller's control;
* `client`: the RPC-level helpers the tests call.

Kurigram (pyrogram.raw, pyrogram.crypto) provides TL objects and primitives and the crypto
building blocks; what the tests examine (framing, envelopes, session rules, the key exchange's
steps, the RSA fingerprint) is written here once from core.telegram.org/mtproto and shares no
code with the emulator.  Each module says which is which.
"""

from .client import create_auth_key, with_layer
from .connection import ConnectionClosed, WireConnection
from .handshake import KeyExchange, RsaScheme, ServerKey, factor_pq
from .messages import AuthKey, Message, RpcResult, StateInfo, answers, msg_id_at
from .session import Outgoing, Session
from .transports import (
    OBFUSCATED_TAGS,
    TRANSPORTS,
    AbridgedFraming,
    FullFraming,
    IntermediateFraming,
    ObfuscatedFraming,
    PaddedIntermediateFraming,
    TransportErrorReceived,
    make_framing,
    read_all,
    transport_error_code,
)

__all__ = [
    "OBFUSCATED_TAGS",
    "TRANSPORTS",
    "AbridgedFraming",
    "AuthKey",
    "ConnectionClosed",
    "FullFraming",
    "IntermediateFraming",
    "KeyExchange",
    "Message",
    "ObfuscatedFraming",
    "Outgoing",
    "PaddedIntermediateFraming",
    "RpcResult",
    "RsaScheme",
    "ServerKey",
    "Session",
    "StateInfo",
    "TransportErrorReceived",
    "WireConnection",
    "answers",
    "create_auth_key",
    "factor_pq",
    "make_framing",
    "msg_id_at",
    "read_all",
    "transport_error_code",
    "with_layer",
]
