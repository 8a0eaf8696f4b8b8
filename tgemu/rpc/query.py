"""The one place an incoming API call is parsed: wrappers taken off, the query read.

invokeWithLayer, initConnection, invokeWithoutUpdates and invokeAfterMsg(s) wrap the call a
client means; what they say about it (the layer, whether it wants updates) is kept beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyrogram.raw import functions

from .. import tl
from ..layers import adapt as layers

_WRAPPERS = (
    functions.InvokeWithLayer,
    functions.InitConnection,
    functions.InvokeWithoutUpdates,
    functions.InvokeAfterMsg,
    functions.InvokeAfterMsgs,
)


class UnparsableQuery(ValueError):
    """The body is no TL object the emulator knows (answered INPUT_METHOD_INVALID)."""


@dataclass(frozen=True, slots=True)
class Query:
    call: Any  # a Kurigram `functions.*` object
    # The API layer invokeWithLayer declared around this call, if it did.
    layer: int | None
    without_updates: bool

    @property
    def constructor(self) -> int:
        return int(self.call.ID)

    @property
    def name(self) -> str:
        return tl.method_name(self.call)


def parse_query(body: bytes, session_layer: int | None = None) -> Query | None:
    """The call in `body`, read in the API layer its client declared (in `body` itself or
    earlier, `session_layer`); None when it is a TL object but no function (nothing to run)."""
    try:
        obj = layers.read_request(body, session_layer)
    except Exception:  # the generated readers raise anything on garbage
        raise UnparsableQuery(f"#{tl.constructor_of(body):08x}") from None
    layer: int | None = None
    without_updates = False
    while isinstance(obj, _WRAPPERS):
        if isinstance(obj, functions.InvokeWithLayer):
            layer = obj.layer
        elif isinstance(obj, functions.InvokeWithoutUpdates):
            without_updates = True
        obj = obj.query
    if not tl.is_function(obj):
        return None
    return Query(obj, layer, without_updates)
