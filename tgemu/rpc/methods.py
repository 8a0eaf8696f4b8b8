"""A handler table keyed by TL constructor id, filled by decorators, one per handler module.

Like a web framework's router: each module declares `methods = Methods()` and decorates its
handlers; table.py merges the modules' tables into the one the dispatcher reads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .context import CallContext

Handler = Callable[[CallContext, Any], Awaitable[Any]]
_F = TypeVar("_F", bound=Handler)


@dataclass(frozen=True, slots=True)
class Method:
    handler: Handler
    # Answer 401 AUTH_KEY_UNREGISTERED on a key not signed in.
    needs_auth: bool


class Methods:
    def __init__(self) -> None:
        self.by_id: dict[int, Method] = {}

    def register(self, *functions: type, needs_auth: bool = True) -> Callable[[_F], _F]:
        """Register a handler for these TL function classes."""

        def add(handler: _F) -> _F:
            for cls in functions:
                constructor = int(getattr(cls, "ID"))  # noqa: B009 (Kurigram's classes are untyped)
                if constructor in self.by_id:
                    raise ValueError(f"{cls.__name__} already has a handler")
                self.by_id[constructor] = Method(handler, needs_auth)
            return handler

        return add

    def include(self, *others: Methods) -> Methods:
        for other in others:
            for constructor, method in other.by_id.items():
                if constructor in self.by_id:
                    raise ValueError(f"constructor {constructor:08x} has two handlers")
                self.by_id[constructor] = method
        return self

    def get(self, constructor: int) -> Method | None:
        return self.by_id.get(constructor)
