"""The emulator's link model against the arithmetic: latency plus serialisation at the rate,
replies queued behind each other on a connection, one account cap shared by its connections."""

from __future__ import annotations

import heapq
import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tgemu.link import Line, arrival, serialise

MiB = 1 << 20


def reader(
    size: int, latency: float, rate: int | None, in_flight: int, replies: int
) -> list[float]:
    """Arrival times at a reader that keeps `in_flight` requests of `size` bytes going on one
    connection, asking again the moment a reply has arrived (the DC answers at once)."""
    line = Line()
    sent = [0.0] * in_flight  # the times the requests in flight were sent, oldest first
    arrivals = []
    for _ in range(replies):
        got = arrival(sent.pop(0), size, latency, line, rate)
        arrivals.append(got)
        sent.append(got)
    return arrivals


def test_one_mib_in_flight_at_80_ms_and_8_mb_s_gets_about_5_mb_s() -> None:
    arrivals = reader(MiB, 0.080, 8_000_000, in_flight=1, replies=20)
    per_request = 0.080 + MiB / 8_000_000  # 80 ms round trip + 131 ms of transfer
    assert arrivals == pytest.approx([per_request * (i + 1) for i in range(20)])
    rate = 20 * MiB / arrivals[-1]
    assert rate == pytest.approx(4.968e6, rel=1e-3)
    # The token bucket this replaces gave such a reader the whole 8 MB/s: its allowance
    # filled while each reply waited out its latency.
    assert rate < 0.65 * 8_000_000


@pytest.mark.parametrize("size", [4096, 128 * 1024, 512 * 1024, MiB])
@pytest.mark.parametrize("latency", [0.0, 0.010, 0.080, 0.300])
@pytest.mark.parametrize("rate", [1_000_000, 8_000_000, 64_000_000])
@pytest.mark.parametrize("in_flight", [1, 2, 4, 8, 32])
def test_a_reader_gets_in_flight_bytes_per_round_trip_up_to_the_rate(
    size: int, latency: float, rate: int, in_flight: int
) -> None:
    arrivals = reader(size, latency, rate, in_flight, replies=in_flight * 12)
    # From the first batch on the pattern repeats: measure whole batches of replies.
    first, last = in_flight - 1, len(arrivals) - 1
    measured = (last - first) * size / (arrivals[last] - arrivals[first])
    cycle = latency + size / rate  # one request's round trip plus its transfer
    assert measured == pytest.approx(min(rate, in_flight * size / cycle), rel=1e-9)


def test_idle_time_buys_no_allowance() -> None:
    line = Line()
    assert serialise(0.0, MiB, line, 8_000_000) == pytest.approx(MiB / 8e6)
    # A minute idle, then a reply: still its full transfer time, no burst.
    assert serialise(60.0, MiB, line, 8_000_000) == pytest.approx(60 + MiB / 8e6)


def test_replies_on_one_connection_queue_behind_each_other() -> None:
    line = Line()
    sent_together = [arrival(1.0, MiB, 0.080, line, 8_000_000) for _ in range(3)]
    assert sent_together == pytest.approx([1.08 + (i + 1) * MiB / 8e6 for i in range(3)])
    # One that is ready after the line has gone quiet starts when it is ready.
    assert arrival(5.0, 1000, 0.080, line, 8_000_000) == pytest.approx(5.08 + 1000 / 8e6)


def test_an_unlimited_line_adds_only_the_latency() -> None:
    line = Line()
    assert arrival(2.0, 100 * MiB, 0.080, line, None) == pytest.approx(2.08)
    # Unlimited, yet first come first served: a later reply never overtakes.
    assert arrival(2.0, 0, 0.0, line, None) == pytest.approx(2.08)
    assert arrival(2.0, 0, 0.0, Line(), None) == 2.0
    assert serialise(3.0, 0, Line(), 1) == 3.0  # nothing to carry takes no time


def test_a_connection_under_the_account_cap_alone_gets_the_smaller_rate() -> None:
    for rate, cap in [(8_000_000, 64_000_000), (8_000_000, 2_000_000), (None, 4_000_000)]:
        line, account = Line(), Line()
        done = [serialise(0.0, MiB, line, rate, account, cap) for _ in range(10)]
        slowest = min(r for r in (rate, cap) if r is not None)
        assert done[-1] == pytest.approx(10 * MiB / slowest)


def test_an_account_line_without_a_rate_is_no_cap() -> None:
    account = Line()
    assert serialise(0.0, MiB, Line(), 8_000_000, account, None) == pytest.approx(MiB / 8e6)
    assert account.free_at == -math.inf


def test_a_reply_that_cannot_start_holds_no_account_time() -> None:
    busy, other, account = Line(), Line(), Line()
    busy.free_at = 1.0  # this connection is still sending something else
    serialise(0.0, MiB, busy, 8_000_000, account, 64_000_000)
    assert account.free_at == pytest.approx(1.0 + MiB / 64e6)
    # Booked after it, a reply on another connection that can start at 0.5 waits for the
    # account's line only behind what it holds: this model books in the order replies reach
    # it, as the emulator's write loops do, each at the time its connection is free.
    done = serialise(0.5, MiB, other, 8_000_000, account, 64_000_000)
    assert done == pytest.approx(max(0.5 + MiB / 8e6, 1.0 + 2 * MiB / 64e6))


def crowd(connections: int, rate: int, cap: int, latency: float, in_flight: int) -> float:
    """Bytes/s that `connections` readers of one account get together, each on its own
    connection with `in_flight` 1 MiB requests, over many round trips.

    Replies are booked in the order their connections can start them, as the emulator's
    write loops book them (each reaches its next reply once the one before has gone)."""
    lines = [Line() for _ in range(connections)]
    account = Line()
    order = itertools.count()
    queue = [(latency, next(order), c) for c in range(connections) for _ in range(in_flight)]
    heapq.heapify(queue)
    done_bytes, end = 0, 0.0
    while done_bytes < 400 * MiB:
        ready, _, c = heapq.heappop(queue)
        if lines[c].free_at > ready:  # its line is busy: it is reached when that ends
            heapq.heappush(queue, (lines[c].free_at, next(order), c))
            continue
        end = serialise(ready, MiB, lines[c], rate, account, cap)
        done_bytes += MiB
        heapq.heappush(queue, (end + latency, next(order), c))  # the next request
    return done_bytes / end


@pytest.mark.parametrize("connections", [1, 2, 8, 20])
@pytest.mark.parametrize("cap", [4_000_000, 64_000_000])
@pytest.mark.parametrize("in_flight", [1, 4])
def test_the_account_cap_is_shared_by_every_connection(
    connections: int, cap: int, in_flight: int
) -> None:
    rate, latency = 8_000_000, 0.080
    # Alone on the account, a connection's replies go at the slower of its rate and the cap.
    alone = min(rate, cap)
    one_connection = min(alone, in_flight * MiB / (latency + MiB / alone))
    expected = min(cap, connections * one_connection)
    got = crowd(connections, rate, cap, latency, in_flight)
    assert got <= expected * 1.0001
    # Start-up (the first round trip) costs a little; the rest runs at the bound.
    assert got >= expected * 0.9


replies = st.lists(
    st.tuples(
        st.integers(0, 3),  # which connection
        st.floats(0, 5, allow_nan=False),  # how long after the previous reply it is ready
        st.integers(0, 4 * MiB),  # its size
    ),
    max_size=60,
)


@given(replies, st.sampled_from([None, 1_000_000, 8_000_000]), st.sampled_from([None, 4_000_000]))
def test_every_reply_is_its_transfer_after_it_and_the_one_before_are_ready(
    sent: list[tuple[int, float, int]], rate: int | None, cap: int | None
) -> None:
    lines = [Line() for _ in range(4)]
    account = Line()
    ready, booked = 0.0, []
    for c, gap, size in sent:
        ready += gap
        before = lines[c].free_at
        done = serialise(ready, size, lines[c], rate, account, cap)
        # Never before it is ready and its bytes have gone at the rate, behind the one before.
        start = max(ready, before)
        assert done >= start + (0 if rate is None else size / rate) - 1e-9
        if cap is None:
            assert done == pytest.approx(start + (0 if rate is None else size / rate))
        else:
            assert done >= account.free_at - 1e-9  # carried by the account's line too
            booked.append((account.free_at - size / cap, account.free_at))
    # The account's line carries one reply at a time: its bookings never overlap.
    booked.sort()
    for (_, end), (begin, _) in itertools.pairwise(booked):
        assert begin >= end - 1e-6


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="negative size"):
        serialise(0.0, -1, Line(), 8_000_000)
    with pytest.raises(ValueError, match="latency"):
        arrival(0.0, 1, -0.001, Line(), 8_000_000)
