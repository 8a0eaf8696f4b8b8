"""The viewers: HTTP requests from the bench process, timed, with every byte checked.

Time to first byte is measured to the first body byte, not to the headers, because that is
when a player can start.  A request that fails, ends short or returns wrong bytes is an
error; nothing is retried.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass

import httpx

KiB = 1024


@dataclass
class Fetch:
    ttfb: float | None  # seconds to the first body byte; None if none came
    seconds: float
    received: int
    error: str | None


async def fetch(
    http: httpx.AsyncClient,
    url: str,
    expected: bytes,
    first: int = 0,
    read: int | None = None,
    deadline: float | None = None,
    check_after: bool = False,
) -> Fetch:
    """GET `url` from byte `first` (open-ended, as players ask), read `read` bytes or all,
    and compare them with `expected[first:first + read]`.  With `check_after` the bytes are
    kept and hashed once the clock has stopped: where the server outruns one Python client
    (the disk tier), hashing on the way would measure the client."""
    headers = {"Range": f"bytes={first}-"} if first else {}
    want = len(expected) - first if read is None else min(read, len(expected) - first)
    digest = hashlib.sha256()
    kept: list[bytes] = []
    received = 0
    ttfb: float | None = None
    started = time.perf_counter()
    try:
        async with asyncio.timeout_at(deadline), http.stream("GET", url, headers=headers) as r:
            if r.status_code != (206 if first else 200):
                return Fetch(None, time.perf_counter() - started, 0, f"HTTP {r.status_code}")
            async for chunk in r.aiter_raw():
                if ttfb is None:
                    ttfb = time.perf_counter() - started
                chunk = chunk[: want - received]
                if check_after:
                    kept.append(chunk)
                else:
                    digest.update(chunk)
                received += len(chunk)
                if received >= want:
                    break
    except TimeoutError:
        return Fetch(ttfb, time.perf_counter() - started, received, "time bound reached")
    except httpx.HTTPError as exc:
        return Fetch(ttfb, time.perf_counter() - started, received, type(exc).__name__)
    seconds = time.perf_counter() - started
    for chunk in kept:
        digest.update(chunk)
    if received != want:
        return Fetch(ttfb, seconds, received, f"short body: {received} of {want}")
    if digest.digest() != hashlib.sha256(expected[first : first + want]).digest():
        return Fetch(ttfb, seconds, received, "wrong bytes")
    return Fetch(ttfb, seconds, received, None)


def client(viewers: int = 1) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(60.0),
        limits=httpx.Limits(max_connections=viewers, max_keepalive_connections=viewers),
    )
