"""The read-only WebDAV view of the bin channel at /dav (RFC 4918 class 1, read side):
OPTIONS, PROPFIND at Depth 0 and 1, GET and HEAD; every write method answers 405.

Folders and names come from the file index (names.py); a file's GET and HEAD are the very
response /dl gives (download.serve, TelegramFileResponse): the same cache, failure policy,
validators and Range handling.  Failures are raised to the app's error handlers like any
other route's, so they are answered the same way.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Protocol
from urllib.parse import quote

from pydantic import SecretStr
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send

from ...metrics import Metrics
from ...store import IndexEntry
from .. import download
from ..source import FileSource
from .auth import CHALLENGE, authenticated_user
from .multistatus import Resource, folder, multistatus, propfind_finite_depth
from .names import MONTH, folder_names
from .propfind import MAX_BODY, BadPropfind, Depth, DepthInfinity, parse_depth, parse_propfind

__all__ = ["ALLOW", "BASE", "DavView", "FileIndex"]

BASE = "/dav"
ALLOW = "OPTIONS, PROPFIND, GET, HEAD"
_XML = "application/xml; charset=utf-8"


class FileIndex(Protocol):
    """The part of the StateStore the view reads."""

    async def index_months(self) -> list[str]: ...

    async def index_month(self, month: str) -> list[IndexEntry]: ...


class DavView:
    """The ASGI app of /dav and everything under it (a Route with every method)."""

    def __init__(
        self,
        users: Mapping[str, SecretStr],
        index: FileIndex,
        files: FileSource,
        metrics: Metrics,
        deadline: float,
    ) -> None:
        self.users = users
        self.index = index
        self.files = files
        self.metrics = metrics
        self.deadline = deadline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.answer(Request(scope, receive))
        await response(scope, receive, send)

    async def answer(self, request: Request) -> Response:
        if authenticated_user(request.headers.get("authorization"), self.users) is None:
            raise HTTPException(401, "authentication required", {"WWW-Authenticate": CHALLENGE})
        method = request.method
        if method == "OPTIONS":
            return Response(headers={"DAV": "1", "Allow": ALLOW, "MS-Author-Via": "DAV"})
        if method not in ("PROPFIND", "GET", "HEAD"):
            raise HTTPException(405, "this WebDAV view is read-only", {"Allow": ALLOW})
        rest = str(request.path_params.get("rest", ""))
        found = await self._find(rest)
        if found is None:
            raise HTTPException(404, "no such file or folder")
        resource, children = found
        if method == "PROPFIND":
            return await self._propfind(request, resource, children)
        if resource.entry is not None:
            return await download.serve(
                self.files, self.metrics, self.deadline, resource.entry.message_id, False
            )
        return _listing(resource, children)

    async def _find(self, rest: str) -> tuple[Resource, Sequence[Resource]] | None:
        """The resource at `rest` (the path under /dav/, decoded) and its members."""
        parts = rest.split("/")
        if parts[-1] == "" and len(parts) > 1:
            parts.pop()  # a folder named with its trailing slash
        if parts == [""]:
            months = await self.index_months()
            return Resource("/", "tgstream"), [Resource(f"/{m}/", m) for m in months]
        month = parts[0]
        if not MONTH.fullmatch(month) or len(parts) > 2:
            return None
        entries = await self.index.index_month(month)
        if not entries:
            return None
        named = folder_names(entries)
        if len(parts) == 1:
            files = [Resource(f"/{month}/{n}", n, e) for n, e in sorted(named.items())]
            return folder(f"/{month}/", month, entries), files
        entry = named.get(parts[1])
        if entry is None:
            return None
        return Resource(f"/{month}/{parts[1]}", parts[1], entry), []

    async def index_months(self) -> list[str]:
        return [m for m in await self.index.index_months() if MONTH.fullmatch(m)]

    async def _propfind(
        self, request: Request, resource: Resource, children: Sequence[Resource]
    ) -> Response:
        try:
            depth = parse_depth(request.headers.get("depth"))
            body = await _bounded_body(request)
            asked = parse_propfind(body)
        except DepthInfinity:
            return Response(propfind_finite_depth(), status_code=403, media_type=_XML)
        except BadPropfind as exc:
            raise HTTPException(400, str(exc)) from None
        resources = [resource, *children] if depth is Depth.ONE else [resource]
        return Response(multistatus(BASE, resources, asked), status_code=207, media_type=_XML)


async def _bounded_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise HTTPException(413, f"PROPFIND body over {MAX_BODY} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise HTTPException(413, f"PROPFIND body over {MAX_BODY} bytes")
    except ClientDisconnect:
        raise HTTPException(400, "request body cut short") from None
    return bytes(body)


def _listing(resource: Resource, children: Sequence[Resource]) -> Response:
    """A folder fetched with GET (a browser): its members as links."""
    items = "".join(
        f'<li><a href="{html.escape(quote(BASE + child.path))}">{html.escape(child.name)}</a></li>'
        for child in children
    )
    title = html.escape(resource.name)
    page = (
        f"<!doctype html><meta charset=utf-8><title>{title}</title><h1>{title}</h1><ul>{items}</ul>"
    )
    # The page runs nothing and loads nothing: names are escaped, and the policy says so.
    headers = {
        "Cache-Control": "private, no-cache",
        "Content-Security-Policy": "default-src 'none'",
    }
    return HTMLResponse(page, headers=headers)
