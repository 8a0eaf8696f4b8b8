"""Where a session's messages go: the connection that last carried it, or the resend store.

A session outlives its connections: with none live, a content-related message is numbered and
kept unacknowledged, and the core resends it when the client comes back with that session,
as Telegram resends unacknowledged answers.  Updates fan out here too, once per auth key.
"""

from __future__ import annotations

import itertools
import time
from typing import Any, Protocol

from .mtproto.core import MTProtoCore
from .mtproto.outgoing import Send
from .mtproto.session import SessionState
from .rpc.encode import encode
from .store import Store


class Sink(Protocol):
    """A live connection, as far as routing is concerned."""

    @property
    def closed(self) -> bool: ...

    def send(self, session: SessionState, send: Send) -> None: ...


class Delivery:
    def __init__(self, store: Store, core: MTProtoCore) -> None:
        self.store = store
        self.core = core
        self.sinks: dict[int, Sink] = {}
        self._carriers = itertools.count(1)

    def attach(self, sink: Sink) -> int:
        """Register a new connection; its id is what the core records as a session's carrier."""
        carrier = next(self._carriers)
        self.sinks[carrier] = sink
        return carrier

    def detach(self, carrier: int) -> None:
        self.sinks.pop(carrier, None)
        self.core.sessions.detach(carrier)

    def _live_sink(self, session: SessionState) -> Sink | None:
        sink = self.sinks.get(session.carrier) if session.carrier is not None else None
        return sink if sink is not None and not sink.closed else None

    def send_in_session(self, session: SessionState, send: Send) -> None:
        sink = self._live_sink(session)
        if sink is not None:
            sink.send(session, send)
        elif send.content_related:
            session.number(send, time.time())

    def push_updates(self, user_id: int, updates: Any) -> None:
        """Deliver an Updates object to each live client of this account, once per auth key.

        Each chosen session gets it serialised in the layer that session declared.
        """
        by_key: dict[int, list[SessionState]] = {}
        for session in self.core.sessions:
            if self._live_sink(session) is None:
                continue
            key = self.store.keys.get(session.key_id)
            owner = self.store.user_of(key) if key is not None else None
            if owner is None or owner.id != user_id:
                continue
            by_key.setdefault(session.key_id, []).append(session)
        for key_id, live in by_key.items():
            chosen = self.core.sessions.update_target(key_id, live)
            if chosen is not None:
                body = encode(updates, chosen.layer)
                self.send_in_session(chosen, Send(body, content_related=True, is_response=False))
