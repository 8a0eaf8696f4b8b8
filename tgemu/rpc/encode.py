"""The one place an API answer (an RPC result or pushed updates) becomes bytes.

`layer` is the API layer the receiving session declared (None: it declared none); the objects
are Kurigram's, of the layer it was generated for.
"""

from __future__ import annotations

from typing import Any

from .. import tl


def encode(obj: Any, layer: int | None) -> bytes:
    """A handler's result or an Updates object, serialised for a session in `layer`."""
    if isinstance(obj, bytes):
        return obj  # serialised by its handler (upload.file, the hot path)
    return tl.write(obj)
