"""One HTTP request driven at the ASGI level, to see exactly what an app put on the wire."""

from __future__ import annotations

import asyncio
from typing import Any


async def call(
    app: Any,
    path: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    query: str = "",
) -> tuple[list[dict[str, Any]], BaseException | None]:
    """One request at the ASGI level: every message the app sent, and what it raised (what
    uvicorn would see: an exception after the start message means an aborted connection)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 5000),
        "server": ("tgstream", 80),
    }
    messages: list[dict[str, Any]] = []
    asked = False

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays until the response ends
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    try:
        await app(scope, receive, send)
    except Exception as exc:
        return messages, exc
    return messages, None


def body_of(messages: list[dict[str, Any]]) -> bytes:
    return b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
