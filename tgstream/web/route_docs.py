"""What the signed-link routes take and what they answer besides success, stated once for
every router: the path and query types of a link, and the error bodies the served OpenAPI
schema documents, so a client (or schemathesis) can hold the routes to it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query

MessageId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Sig = Annotated[str, Query(max_length=200)]
# A link's end, unix seconds; absent on links that never end.  Malformed is forged (403).
Exp = Annotated[str | None, Query(max_length=200)]

Responses = dict[int | str, dict[str, Any]]

# Spelled out rather than a "model": an HTML route's response class would relabel a model's
# content as text/html.  Every error body is JSON, or a page for a client that prefers HTML
# (errors.py).
ERROR_BODY = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"error": {"type": "string"}},
            "required": ["error"],
        }
    },
    "text/html": {"schema": {"type": "string"}},
}

TELEGRAM_BUSY = (
    "Telegram is busy, or did not answer within the first-byte deadline; retry after Retry-After"
)


def error_responses(client_errors: str, busy: str = TELEGRAM_BUSY) -> Responses:
    """The 4XX, 502 and 503 a link route answers; "4XX" also stops FastAPI from documenting a
    422 that the validation handler never sends."""
    return {
        "4XX": {"content": ERROR_BODY, "description": client_errors},
        502: {"content": ERROR_BODY, "description": "Telegram refused the request"},
        503: {"content": ERROR_BODY, "description": busy},
    }
