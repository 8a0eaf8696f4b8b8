"""The emulator's link model: a reply arrives its latency plus its serialisation after it is sent.

A connection is a line that carries one reply at a time at its rate: a reply of N bytes
takes N / rate on it, and replies queue behind each other, so one request in flight at a
time pays the round trip and the transfer, one after the other (80 ms + 131 ms for 1 MiB at
8 MB/s: about 5 MB/s). Idle time buys nothing: unlike a token bucket, no allowance fills
while a reply waits out its latency. An account's cap is one more such line that every
connection of the account shares, in the order their replies reach it.

Latency is a constant delay in front of the line (the connection sleeps it before queueing
the reply); for a first-come-first-served line, delaying before or after serialising gives
the same arrival times, so it is applied where the session's current connection is known.

Pure: times are numbers the caller passes in (seconds on any monotonic clock), no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class Line:
    """One direction of a link that sends one reply at a time: when its last one has gone."""

    free_at: float = -math.inf


def serialise(
    ready: float,
    size: int,
    line: Line,
    rate: int | None,
    account: Line | None = None,
    account_rate: int | None = None,
) -> float:
    """When the last byte of a `size`-byte reply, queued at `ready`, has left; books the
    lines' time. `rate` (bytes/s) paces `line`, None = unlimited; the account's line, when
    both it and its rate are given, caps the bytes of every connection of the account.

    The reply starts when its connection is free. On the account's line it takes its turn
    from then, not before (a reply that cannot start yet holds no account time); it is done
    when both lines have carried it, so a connection gets min(rate, what the account leaves).
    """
    if size < 0:
        raise ValueError(f"a reply has no negative size: {size}")
    start = max(ready, line.free_at)
    done = start if rate is None else start + size / rate
    if account is not None and account_rate is not None:
        turn = max(start, account.free_at)
        account.free_at = turn + size / account_rate
        done = max(done, account.free_at)
    line.free_at = done
    return done


def arrival(
    sent: float,
    size: int,
    latency: float,
    line: Line,
    rate: int | None,
    account: Line | None = None,
    account_rate: int | None = None,
) -> float:
    """When a reply sent at `sent` is wholly at the client: `latency` (seconds, the round
    trip the DC adds) plus its serialisation, queued behind the replies before it."""
    if latency < 0:
        raise ValueError(f"latency cannot be negative: {latency}")
    return serialise(sent + latency, size, line, rate, account, account_rate)
