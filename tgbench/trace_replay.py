"""A player's trace replayed against one server: its requests at their moments, each taking
at most what the player took, checked byte for byte, and hung up when the player hung up."""

from __future__ import annotations

import asyncio
import hashlib

import httpx

from .trace import FOUR_MIB, Outcome, Request, Trace


async def _one(
    http: httpx.AsyncClient, url: str, data: bytes, req: Request, clock0: float
) -> Outcome:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, clock0 + req.start_s - loop.time()))
    started = loop.time()
    # A player that read to the end hung up because the body ended, not because the user
    # jumped: against a slower server it reads on (within a minute).
    hang_up = clock0 + req.end_s if req.aborted else started + 60.0
    window = max(0.0, hang_up - started)
    end = "" if req.last is None else str(req.last)
    headers = {"Range": f"bytes={req.first}-{end}"}
    digest = hashlib.sha256()
    taken = 0
    ttfb: float | None = None
    to_4mib: float | None = None
    error: str | None = None
    try:
        async with asyncio.timeout_at(hang_up), http.stream("GET", url, headers=headers) as r:
            if r.status_code != 206:
                return Outcome(None, None, 0, window, f"HTTP {r.status_code}")
            async for chunk in r.aiter_raw():
                now = loop.time()
                if ttfb is None:
                    ttfb = now - started
                chunk = chunk[: req.read - taken]
                digest.update(chunk)
                taken += len(chunk)
                if to_4mib is None and taken >= FOUR_MIB:
                    to_4mib = now - started
                if taken >= req.read:
                    break
            if req.aborted:
                # Full buffer: the player leaves the answer open, unread, until the user jumps.
                await asyncio.sleep(max(0.0, hang_up - loop.time()))
    except TimeoutError:
        pass  # the user jumped: the player hangs up wherever the body had got to
    except httpx.HTTPError as exc:
        error = type(exc).__name__
    if error is None and not req.aborted and taken < req.read:
        error = f"short body: {taken} of {req.read}"
    if (
        error is None
        and digest.digest() != hashlib.sha256(data[req.first : req.first + taken]).digest()
    ):
        error = "wrong bytes"
    return Outcome(ttfb, to_4mib, taken, window, error)


async def replay(url: str, data: bytes, trace: Trace) -> list[Outcome]:
    """Every request of `trace` against `url`, which serves `data` (the trace's file size)."""
    if len(data) != trace.file_bytes:
        raise ValueError("the replayed file must be the trace's size")
    viewers = max(4, len(trace.requests))
    limits = httpx.Limits(max_connections=viewers, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0), limits=limits) as http:
        clock0 = asyncio.get_running_loop().time() + 0.05
        return list(
            await asyncio.gather(*(_one(http, url, data, r, clock0) for r in trace.requests))
        )
