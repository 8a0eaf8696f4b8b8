"""A stand-in for the one write litmus cannot do without, in front of a read-only WebDAV
server.

litmus (Debian's WebDAV protocol suite) first creates a scratch collection with MKCOL and
stops at once when the server refuses, so a read-only server runs none of its tests.  This
shim answers that MKCOL (and the DELETE that removes it at the end) itself, and forwards
every other request, unchanged but for its path, to a folder that exists on the server:
`{prefix}litmus/...` becomes `{prefix}...` (and the hrefs of a Multi-Status answer the
other way round).  litmus then runs every test against the real
server, and the write tests fail there as they should on a read-only server.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import httpx

__all__ = ["LitmusShim"]

_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host"}


class LitmusShim:
    def __init__(self, upstream: str, prefix: str) -> None:
        """`upstream`: the server (scheme://host:port); `prefix`: the existing folder litmus
        is pointed at, with its trailing slash ("/dav/2026-12/")."""
        self.upstream = upstream
        self.prefix = prefix
        self.scratch = prefix + "litmus/"
        shim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path
                if path.rstrip("/") == shim.scratch.rstrip("/") and self.command in (
                    "MKCOL",
                    "DELETE",
                ):
                    self._reply(201 if self.command == "MKCOL" else 204, {}, b"")
                    return
                if path.startswith(shim.scratch):
                    path = shim.prefix + path[len(shim.scratch) :]
                elif path.rstrip("/") == shim.scratch.rstrip("/"):
                    path = shim.prefix
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                answer = httpx.request(
                    self.command, shim.upstream + path, headers=headers, content=body, timeout=60
                )
                out = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP}
                content = answer.content
                if answer.status_code == 207 and self.path.startswith(shim.scratch):
                    # The alias both ways: the folder's hrefs named as litmus asked for them.
                    content = content.replace(
                        f"href>{shim.prefix}".encode(), f"href>{shim.scratch}".encode()
                    )
                    out.pop("content-length", None)
                self._reply(answer.status_code, out, content)

            def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() != "content-length":
                        self.send_header(key, value)
                sent = b"" if self.command == "HEAD" else body
                length = headers.get("content-length", str(len(body)))
                if self.command != "HEAD":
                    length = str(len(sent))
                self.send_header("Content-Length", length)
                self.end_headers()
                self.wfile.write(sent)

            def __getattr__(self, name: str) -> object:
                if name.startswith("do_"):
                    return self._forward
                raise AttributeError(name)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{self.prefix}"

    def __enter__(self) -> LitmusShim:
        self.thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
