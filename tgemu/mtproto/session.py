"""One MTProto session (auth key + session_id): what the server knows and owes the client."""

from __future__ import annotations

from dataclasses import dataclass, field

from .msg_ids import MsgIdClock
from .outgoing import Outgoing, Send, Unacked, pack_container
from .received import ReceivedWindow


@dataclass(slots=True)
class SessionState:
    key_id: int
    session_id: int
    # Sent in new_session_created, so the client can tell a restarted server session.
    unique_id: int
    # Opaque id of the connection that last carried a message of this session (the server's
    # answers go there); None while no connection does.
    carrier: int | None = None
    # Connections the session moved away from while they stayed open (tgemu.mtproto.carriers),
    # and the msg_id of the client message that moved it to `carrier`.
    left: set[int] = field(default_factory=set)
    moved_by: int = 0
    created_sent: bool = False
    # The client made an authorized call without invokeWithoutUpdates: it takes updates.
    wants_updates: bool = False
    # The API layer the client declared with invokeWithLayer; None until it does.
    layer: int | None = None
    clock: MsgIdClock = field(default_factory=MsgIdClock)
    content_sent: int = 0
    received: ReceivedWindow = field(default_factory=ReceivedWindow)
    unacked: Unacked = field(default_factory=Unacked)

    def next_seqno(self, content_related: bool) -> int:
        if content_related:
            self.content_sent += 1
            return self.content_sent * 2 - 1
        return self.content_sent * 2

    def number(self, send: Send, now: float) -> Outgoing:
        """Give a message its msg_id and seqno; a content-related one is kept until acked."""
        out = Outgoing(
            self.clock.next(now, send.is_response), self.next_seqno(send.content_related), send.body
        )
        if send.content_related:
            self.unacked.remember(out)
        return out

    def seal(self, sends: list[Send], now: float) -> Outgoing:
        """The one message that carries `sends`: itself if alone, else a container of them."""
        messages = [self.number(send, now) for send in sends]
        if len(messages) == 1:
            return messages[0]
        return Outgoing(
            self.clock.next(now, False), self.next_seqno(False), pack_container(messages)
        )
