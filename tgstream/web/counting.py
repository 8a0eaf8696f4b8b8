"""Every response the app sends, counted by route and status (``tgstream_responses``).

The route label is the matched route's path template (``/dl/{message_id}/{file_name}``),
never the raw path: raw paths carry message ids, names and signatures, an unbounded set of
label values that would swell the registry with every link.  Paths no route knows count as
``other``.  An ASGI middleware rather than per-route code, so error pages, 404s and 405s
are counted the same way as the files.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

OTHER: Final = "other"


def route_label(scope: Scope) -> str:
    """The route template Starlette matched (it leaves the route in the scope), else "other"."""
    template = getattr(scope.get("route"), "path_format", None)
    return template if isinstance(template, str) and template else OTHER


class CountResponses:
    """Counts each HTTP response once, when its status line goes out; a request that ends in
    an exception before any status line counts as the 500 the server then sends."""

    def __init__(self, app: ASGIApp, responses: Counter) -> None:
        self.app = app
        self.responses = responses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def counting_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                started = True
                self.responses.labels(route_label(scope), str(message["status"])).inc()
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except Exception:
            if not started:
                self.responses.labels(route_label(scope), "500").inc()
            raise
