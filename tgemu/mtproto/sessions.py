"""Every live MTProto session, by (auth key id, session_id), and where updates go per key."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

from .carriers import connection_gone
from .session import SessionState


def _random_unique_id() -> int:
    return secrets.randbits(63)


class SessionTable:
    def __init__(self, new_unique_id: Callable[[], int] = _random_unique_id) -> None:
        self._new_unique_id = new_unique_id
        self._sessions: dict[tuple[int, int], SessionState] = {}
        # Per auth key, the session that last synchronised updates (getState/getDifference).
        self._update_targets: dict[int, SessionState] = {}

    def __iter__(self) -> Iterator[SessionState]:
        return iter(list(self._sessions.values()))

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, key_id: int, session_id: int) -> SessionState | None:
        return self._sessions.get((key_id, session_id))

    def get_or_create(self, key_id: int, session_id: int) -> SessionState:
        session = self._sessions.get((key_id, session_id))
        if session is None:
            session = SessionState(key_id, session_id, unique_id=self._new_unique_id())
            self._sessions[(key_id, session_id)] = session
        return session

    def destroy(self, current: SessionState, session_id: int) -> bool:
        """destroy_session: forget another session of the same key; False if there is none.

        A session cannot destroy itself (the spec answers destroy_session_none).
        """
        victim = self._sessions.get((current.key_id, session_id))
        if victim is None or victim is current:
            return False
        del self._sessions[(current.key_id, session_id)]
        return True

    def detach(self, carrier: int) -> None:
        """The connection `carrier` is gone: its sessions wait for the next one."""
        for session in self._sessions.values():
            connection_gone(session, carrier)

    def route_updates(self, session: SessionState) -> None:
        """This session synchronised updates: it is the one of its key that gets them."""
        self._update_targets[session.key_id] = session

    def update_target(self, key_id: int, live: list[SessionState]) -> SessionState | None:
        """Which of a key's live sessions gets an update: the one that last synchronised
        updates, else the latest that asked for updates; a client's media sessions share its
        key and must not see every update twice."""
        chosen = self._update_targets.get(key_id)
        if chosen is not None and any(chosen is s for s in live):
            return chosen
        wanting = [s for s in live if s.wants_updates]
        return wanting[-1] if wanting else None
