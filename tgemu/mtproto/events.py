"""What the core asks its driver to do after a client message."""

from __future__ import annotations

from dataclasses import dataclass

from .outgoing import Outgoing, Send


@dataclass(frozen=True, slots=True)
class Resend:
    """Send an unacknowledged message again, as it was (same msg_id and seqno)."""

    out: Outgoing


@dataclass(frozen=True, slots=True)
class RpcCall:
    """An API query to run; its answer goes back through `results.rpc_result`.

    The body is the query still wrapped (invokeWithLayer, initConnection, ...): unwrapping
    and parsing it is the API side's job, in the client's layer.
    """

    msg_id: int
    body: bytes
    content_related: bool


@dataclass(frozen=True, slots=True)
class CloseAfter:
    """ping_delay_disconnect: close the connection unless another ping comes within this."""

    seconds: int


@dataclass(frozen=True, slots=True)
class KeyDuplicated:
    """A call on an auth key invalidated for concurrent use of a session (tgemu.mtproto.carriers):
    send `answer`, its rpc_error 406 AUTH_KEY_DUPLICATED, and count it."""

    answer: Send


Event = Send | Resend | RpcCall | CloseAfter | KeyDuplicated
