"""What an RPC handler receives: the world state and the call's key, session and DC."""

from __future__ import annotations

from dataclasses import dataclass

from ..mtproto.session import SessionState
from ..mtproto.sessions import SessionTable
from ..store import AuthKey, User
from ..world import World


class RpcError(Exception):
    """An rpc_error answer (core.telegram.org/api/errors)."""

    def __init__(self, code: int, message: str, held: float = 0) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        # Seconds the connection waits before sending it (a fault holding the call).
        self.held = held


def auth_key_unregistered() -> RpcError:
    return RpcError(401, "AUTH_KEY_UNREGISTERED")


@dataclass
class CallContext:
    world: World
    sessions: SessionTable
    dc: int
    key: AuthKey
    session: SessionState
    msg_id: int

    @property
    def user(self) -> User | None:
        return self.world.store.user_of(self.key)

    def require_user(self) -> User:
        user = self.user
        if user is None:
            raise auth_key_unregistered()
        return user

    def route_updates_here(self) -> None:
        """The client synchronised updates in this session: push its key's updates here."""
        self.sessions.route_updates(self.session)
