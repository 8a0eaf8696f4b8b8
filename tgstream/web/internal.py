"""Actions the command line asks of the running server, whose bots hold the Telegram
sessions (a second user of a session would break it): `tgstream index --backfill`.

Not for anyone else: the request carries a token derived from SECRET, which only holders
of the configuration know, compared in constant time; anything else is a plain 404.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import FastAPI, Header, Query
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..telegram.channel_walk import GAP

__all__ = ["BACKFILL_PATH", "action_token", "add_routes"]

BACKFILL_PATH = "/internal/index/backfill"
_LABEL = b"tgstream-internal-action-v1:"


def action_token(secret: str, action: str) -> str:
    """The bearer token of `action` for the server whose SECRET is `secret`."""
    return hmac.new(secret.encode(), _LABEL + action.encode(), hashlib.sha256).hexdigest()


def add_routes(
    app: FastAPI, secret: str, backfill: Callable[[int], Awaitable[dict[str, int]]]
) -> None:
    expected = f"Bearer {action_token(secret, 'index-backfill')}"

    @app.post(BACKFILL_PATH, include_in_schema=False)
    async def index_backfill(
        authorization: Annotated[str, Header(max_length=200)] = "",
        gap: Annotated[int, Query(ge=1, le=1_000_000)] = GAP,
    ) -> JSONResponse:
        if not hmac.compare_digest(authorization.encode(), expected.encode()):
            raise HTTPException(404, "Not Found")
        return JSONResponse(await backfill(gap))
