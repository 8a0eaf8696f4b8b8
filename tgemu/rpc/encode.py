"""The one place an API answer (an RPC result or pushed updates) becomes bytes.

`layer` is the API layer the receiving session declared (None: it declared none); the objects
are Kurigram's, of the layer it was generated for.
"""

from __future__ import annotations

from typing import Any

from ..layers import adapt as layers


def encode(obj: Any, layer: int | None) -> bytes:
    """A handler's result or an Updates object, serialised for a session in `layer`."""
    # Bytes were serialised by their handler (upload.file, the hot path); they pass unchanged
    # unless the session's layer is an older one.
    return layers.write_answer(obj, layer)
