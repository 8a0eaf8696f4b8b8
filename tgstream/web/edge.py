"""Connection hygiene at the edge: what uvicorn's HTTP/1.1 protocol leaves open to anyone.

uvicorn starts its keep-alive timer only after a response and cancels it on any byte, so a
connection that never sends a request head (or sends one byte a minute) is kept for ever,
and a viewer who stops reading is written to for ever.  This subclass of its h11 protocol
adds, per connection:

- a request-head deadline: a complete head within REQUEST_HEAD_TIMEOUT of connecting (and
  of the previous response, on keep-alive), or the connection is closed;
- a stall deadline: a response whose socket has not taken a byte for STALL_TIMEOUT is cut;
- a small write buffer, so a stalled viewer pins a few KiB of the server, not a part;
- a `tgstream.writable` scope extension: a response that makes its next piece only once the
  socket takes more holds no piece while its viewer is stalled;
- a connection cap: at MAX_CONNECTIONS (or what the open-file limit allows) the oldest
  connection that has not sent a request yet makes room, else the new one is closed at
  once, so idle sockets can never lock real viewers out.

It is a subclass because uvicorn offers no hook for any of these, and every other part of
its protocol (parsing, flow control, shutdown) is what we want unchanged.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import resource
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("tgstream.web.edge")

# File descriptors kept for everything that is not a viewer: MTProto connections to every DC
# (CONNECTIONS_PER_DC per bot), SQLite, logs.
FD_RESERVE = 256
# Bytes a transport may buffer before the response waits for the viewer (asyncio's default
# is 64 KiB).  The kernel's socket buffer already absorbs what a network needs in flight;
# this is only the overflow a stalled viewer pins, beside the piece being sent.
WRITE_HIGH_WATER = 4 * 1024
# The scope extension by which a response waits for the socket before making its next piece.
WRITABLE = "tgstream.writable"


def return_part_memory() -> None:
    """Parts are 1 MiB buffers that come and go by the thousand.  glibc's malloc raises its
    mmap threshold once such a buffer is freed and then keeps later ones in the heap, which
    it seldom gives back: a burst of viewers would leave the process at its peak size for
    good.  A fixed threshold keeps every buffer from 64 KiB up in its own mapping, returned
    to the system the moment it is freed."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 64 * 1024)
    mallopt(m_trim_threshold, 1024 * 1024)


def raise_open_file_limit() -> int:
    """Lift the soft RLIMIT_NOFILE to the hard limit (1,024 is a common soft default, too
    few for a public server); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit", extra={"error": repr(exc)})
    return int(soft)


@dataclass
class EdgeLimits:
    head_timeout: float
    stall_timeout: float
    max_connections: int
    # Connections that have not sent a request head yet, oldest first.
    waiting: OrderedDict[EdgeProtocol, None] = field(default_factory=OrderedDict)
    open: int = 0
    closed_idle: int = 0
    closed_stalled: int = 0
    refused: int = 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "open": self.open,
            "max": self.max_connections,
            "awaiting_request": len(self.waiting),
            "closed_idle": self.closed_idle,
            "closed_stalled": self.closed_stalled,
            "refused": self.refused,
            "request_head_timeout_seconds": self.head_timeout,
            "stall_timeout_seconds": self.stall_timeout,
        }


class EdgeProtocol(H11Protocol):
    limits: EdgeLimits  # set on the subclass made by `protocol_for`

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._stall_timer: asyncio.TimerHandle | None = None
        self._counted = False

    # --- accept ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limits = self.limits
        if limits.open >= limits.max_connections:
            if limits.waiting:
                oldest, _ = limits.waiting.popitem(last=False)
                limits.closed_idle += 1
                oldest._close_idle()
            else:
                limits.refused += 1
                transport.abort()
                return
        self._counted = True
        limits.open += 1
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self.limits.open -= 1
        self._head_received()
        self._cancel_stall()
        super().connection_lost(exc)

    # --- the request head -----------------------------------------------------------------

    def _await_head(self) -> None:
        self._head_received()
        self.limits.waiting[self] = None
        self._head_timer = self.loop.call_later(self.limits.head_timeout, self._head_too_late)

    def _head_received(self) -> None:
        self.limits.waiting.pop(self, None)
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_late(self) -> None:
        self._head_timer = None
        if self in self.limits.waiting:
            del self.limits.waiting[self]
            self.limits.closed_idle += 1
            self._close_idle()

    def _close_idle(self) -> None:
        if not self.transport.is_closing():
            self.transport.abort()

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:
            self._head_received()  # a complete head arrived: the request runs
            if self.cycle is not None:
                # The request's task has been created, not run: the app sees this.
                extensions = self.cycle.scope.setdefault("extensions", {})
                extensions[WRITABLE] = {"paused": self._write_paused, "wait": self._writable}

    def _write_paused(self) -> bool:
        return self.flow.write_paused and not self.transport.is_closing()

    async def _writable(self) -> None:
        """Return once the socket takes more (at once unless writing is paused), or the
        connection is gone (uvicorn lets its waiters go then)."""
        if self._write_paused():
            await self.flow.drain()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            # Keep-alive: the next head is due within the same bound.
            self._await_head()

    # --- a viewer who stops reading -------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stall_timer is None:
            self._stall_timer = self.loop.call_later(self.limits.stall_timeout, self._stalled)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel_stall()

    def _cancel_stall(self) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def _stalled(self) -> None:
        self._stall_timer = None
        self.limits.closed_stalled += 1
        log.debug("viewer stalled, connection closed", extra={"client": str(self.client)})
        if not self.transport.is_closing():
            self.transport.abort()


def protocol_for(limits: EdgeLimits) -> type[EdgeProtocol]:
    """The protocol class uvicorn instantiates per connection, bound to these limits."""
    return type("BoundEdgeProtocol", (EdgeProtocol,), {"limits": limits})


class AcceptErrorLog:
    """The event loop's exception handler: an error that repeats (accept() failing with
    EMFILE, say) is logged at most once a second, with how often it happened meanwhile."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.last: dict[str, float] = {}
        self.repeats: dict[str, int] = {}

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", "event loop error"))
        now = time.monotonic()
        if now - self.last.get(message, -self.interval) < self.interval:
            self.repeats[message] = self.repeats.get(message, 0) + 1
            return
        self.last[message] = now
        repeated = self.repeats.pop(message, 0)
        exc = context.get("exception")
        log.error(
            message,
            extra={"error": repr(exc) if exc is not None else None, "repeated": repeated or None},
        )
