"""Finding where a file really ends when Telegram's declared size is too large."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from tgstream.streaming.plan import validate_request
from tgstream.streaming.source import PROBE_BLOCK, find_end


@given(st.data())
async def test_find_end_is_exact_and_cheap(data: st.DataObject) -> None:
    size = data.draw(st.integers(0, 64 << 20))
    upper = data.draw(st.integers(size, (64 << 20) + PROBE_BLOCK))
    requests: list[tuple[int, int]] = []

    async def fetch(offset: int, limit: int, urgent: bool) -> bytes:
        assert validate_request(offset, limit) is None
        requests.append((offset, limit))
        return bytes(max(0, min(limit, size - offset)))

    assert await find_end(fetch, upper) == size
    assert len(requests) <= math.ceil(math.log2(upper / PROBE_BLOCK + 1)) + 1
