"""RPC method handlers of the emulator, registered by TL function class."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ..connection import Connection
    from ..server import Emulator
    from ..session import MTSession
    from ..store import AuthKey, User


class RpcError(Exception):
    """An rpc_error answer (core.telegram.org/api/errors)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


def auth_key_unregistered() -> RpcError:
    return RpcError(401, "AUTH_KEY_UNREGISTERED")


@dataclass
class CallContext:
    emu: Emulator
    dc: int
    key: AuthKey
    session: MTSession
    connection: Connection
    msg_id: int

    @property
    def user(self) -> User | None:
        return self.emu.store.user_of(self.key)

    def require_user(self) -> User:
        user = self.user
        if user is None:
            raise auth_key_unregistered()
        return user


Handler = Callable[[CallContext, Any], Awaitable[Any]]
_F = TypeVar("_F", bound=Handler)


@dataclass(frozen=True, slots=True)
class Method:
    handler: Handler
    needs_auth: bool


REGISTRY: dict[type, Method] = {}


def method(*classes: type, needs_auth: bool = True) -> Callable[[_F], _F]:
    """Register a handler for TL functions; `needs_auth` answers 401 on unauthorized keys."""

    def register(handler: _F) -> _F:
        for cls in classes:
            REGISTRY[cls] = Method(handler, needs_auth)
        return handler

    return register


def load_all() -> None:
    # Importing the modules runs their @method decorators.
    from . import auth, bots, channels, help, messages, updates, upload, users  # noqa: F401
