"""The link routes' abuse limits, per client address (client_ip.py says who that is):

- RATE_LIMIT, requests to /dl and /watch (HEAD too) in a fixed window, counted by the
  `limits` library in this process's memory.  The window starts at a client's first request
  and its counter is dropped when it ends, so memory follows the clients of the last window,
  however many have come and gone.  A client past it gets 429 with Retry-After saying when
  its window ends.
- MAX_STREAMS_PER_IP, /dl responses in progress at once.  A slot is taken before the
  response is made and given back when the request is over, whichever way it ends; a count
  is kept only while a client has one in progress.

Both are per replica: see "Abuse limits" in README.md for why.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import AsyncIterator, Iterator

from fastapi import Request
from limits import RateLimitItem
from limits import parse as parse_limit
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import FixedWindowRateLimiter

from ..config import Settings
from ..metrics import Metrics
from .client_ip import IPNetwork, client_address, limit_key

# A stream ends when its viewer is done, which nothing here can foresee: a short wait, so a
# player that retries comes back soon after one of its own streams has closed.
STREAMS_RETRY_AFTER = 5


class TooManyRequests(Exception):
    """A client past one of its limits: answered 429 with Retry-After (errors.py)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AbuseLimits:
    def __init__(
        self,
        rate: RateLimitItem | None,
        max_streams: int,
        trusted_proxies: tuple[IPNetwork, ...],
        metrics: Metrics,
    ) -> None:
        self.rate = rate
        self.max_streams = max_streams
        self.trusted_proxies = trusted_proxies
        self.metrics = metrics
        self.storage = MemoryStorage()
        self.limiter = FixedWindowRateLimiter(self.storage)
        self.streams: dict[str, int] = {}
        """Responses in progress by limit key; a key leaves when its count drops to 0."""

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics) -> AbuseLimits:
        rate = parse_limit(settings.rate_limit) if settings.rate_limit else None
        return cls(rate, settings.max_streams_per_ip, settings.trusted_proxies, metrics)

    def client_of(self, request: Request) -> str:
        peer = request.client.host if request.client is not None else None
        forwarded = request.headers.getlist("x-forwarded-for")
        return client_address(peer, forwarded, self.trusted_proxies)

    async def admit_page(self, request: Request) -> None:
        """A FastAPI dependency: the rate limit."""
        await self.check_rate(limit_key(self.client_of(request)))

    async def admit_download(self, request: Request) -> AsyncIterator[None]:
        """A FastAPI dependency (request scope): the rate limit, then a stream slot held
        until the response has been sent, failed or been cut off."""
        key = limit_key(self.client_of(request))
        await self.check_rate(key)
        with self.stream_slot(key):
            yield

    async def check_rate(self, key: str) -> None:
        if self.rate is None or await self.limiter.hit(self.rate, key):
            return
        stats = await self.limiter.get_window_stats(self.rate, key)
        # Whole seconds, rounded up: a client that waits as told finds its window over.
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        self._refuse("too many requests, retry later", wait)

    @contextlib.contextmanager
    def stream_slot(self, key: str) -> Iterator[None]:
        held = self.streams.get(key, 0)
        if self.max_streams and held >= self.max_streams:
            self._refuse("too many downloads at once, retry later", STREAMS_RETRY_AFTER)
        self.streams[key] = held + 1
        try:
            yield
        finally:
            left = self.streams[key] - 1
            if left:
                self.streams[key] = left
            else:
                del self.streams[key]

    def _refuse(self, message: str, retry_after: int) -> None:
        self.metrics.link_refusals.labels(reason="rate-limited").inc()
        raise TooManyRequests(message, retry_after)
