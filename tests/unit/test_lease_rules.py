"""The leader lease's rules, every sequence of Redis answers up to a length, and each case."""

from __future__ import annotations

import itertools

import pytest

from tgstream.store.lease_rules import (
    Action,
    Held,
    Lease,
    Lost,
    Outcome,
    Renewed,
    Role,
    Timing,
    Unreachable,
    Won,
    after,
    due,
    stepped_down,
    wake_at,
)

T = Timing(lease=10.0)
ANSWERS: list[Outcome] = [
    Won(7),
    Held("other", 4.0),
    Held("other", 0.0),
    Renewed(),
    Lost(),
    Unreachable(),
]
# Seconds a command takes, and seconds between answers.
DELAYS = [0.0, 1.5, 4.0]


def test_a_fresh_replica_stands_by_and_tries_at_once() -> None:
    lease = Lease()
    assert not lease.leading and lease.fence is None
    assert due(lease, 0.0, T) is Action.ACQUIRE


def test_winning_leads_from_when_the_command_was_sent() -> None:
    lease = after(Lease(), Won(3), sent_at=100.0, now=100.5, timing=T)
    assert lease.leading and lease.fence == 3
    assert lease.valid_until == 110.0 and lease.next_at == 100.0 + T.renew_every
    assert due(lease, 101.0, T) is Action.WAIT
    assert due(lease, 100.0 + T.renew_every, T) is Action.RENEW
    assert due(lease, 110.0 - T.guard, T) is Action.STEP_DOWN


def test_a_renewal_extends_from_its_own_sending() -> None:
    lease = after(Lease(), Won(1), 0.0, 0.0, T)
    renewed = after(lease, Renewed(), sent_at=3.0, now=3.2, timing=T)
    assert renewed.valid_until == 13.0 and renewed.fence == 1


def test_a_held_lease_is_looked_at_again_when_it_can_run_out_or_at_the_poll() -> None:
    soon = after(Lease(), Held("b", 0.7), 0.0, 1.0, T)
    assert soon.next_at == pytest.approx(1.7) and soon.holder == "b" and not soon.leading
    late = after(Lease(), Held("b", 9.0), 0.0, 1.0, T)
    assert late.next_at == 1.0 + T.poll


def test_losing_it_stands_by_at_once_and_asks_again() -> None:
    lease = after(Lease(), Won(1), 0.0, 0.0, T)
    lost = after(lease, Lost(), 3.0, 3.1, T)
    assert not lost.leading and lost.fence is None and due(lost, 3.1, T) is Action.ACQUIRE


def test_redis_away_keeps_leading_only_until_the_guard() -> None:
    lease = after(Lease(), Won(1), 0.0, 0.0, T)
    t = T.renew_every
    while due(lease, t, T) is not Action.STEP_DOWN:
        assert due(lease, t, T) in (Action.RENEW, Action.WAIT)
        if due(lease, t, T) is Action.RENEW:
            lease = after(lease, Unreachable(), t, t, T)
        t = wake_at(lease, T)
    assert t == pytest.approx(T.lease - T.guard)
    down = stepped_down(lease, t, T)
    assert not down.leading and down.fence is None and down.next_at == t + T.retry


def test_a_late_renewal_answer_does_not_make_a_standby_lead() -> None:
    assert after(Lease(), Renewed(), 0.0, 0.0, T) == Lease()


def test_unreachable_as_a_standby_waits_a_poll() -> None:
    assert after(Lease(), Unreachable(), 0.0, 2.0, T).next_at == 2.0 + T.poll


def test_timing_follows_the_lease() -> None:
    t = Timing(3.0)
    assert (t.renew_every, t.guard, t.retry, t.poll) == (1.0, 0.6, pytest.approx(0.3), 0.75)
    assert t.renew_every + 2 * t.retry < t.lease - t.guard  # two failed tries fit


@pytest.mark.parametrize("length", [1, 2, 3, 4])
def test_every_sequence_of_answers_keeps_the_lease_safe(length: int) -> None:
    """Whatever Redis answers, and however late: a replica leads only while a lease it took
    or renewed (measured from the sending) has more than the guard left; `wake_at` is when
    `due` first says something; a standby has no fence; a fence only comes from a win."""
    for answers in itertools.product(ANSWERS, repeat=length):
        for delays in itertools.product(DELAYS, repeat=2):
            lease, now, granted = Lease(), 0.0, None
            for answer in answers:
                sent = now
                now = sent + delays[0]
                before = lease
                lease = after(lease, answer, sent, now, T)
                if isinstance(answer, Won) or (isinstance(answer, Renewed) and before.leading):
                    granted = sent + T.lease
                elif not lease.leading:
                    granted = None
                _check(lease, granted, now)
                now += delays[1]
                if due(lease, now, T) is Action.STEP_DOWN:
                    lease, granted = stepped_down(lease, now, T), None
                _check(lease, granted, now)


def _check(lease: Lease, granted: float | None, now: float) -> None:
    if lease.leading:
        assert granted is not None and lease.valid_until == granted
        assert lease.fence == 7
        if now >= granted - T.guard:
            assert due(lease, now, T) is Action.STEP_DOWN
    else:
        assert lease.fence is None and lease.role is Role.STANDBY
        assert due(lease, now, T) in (Action.WAIT, Action.ACQUIRE)
    wake = wake_at(lease, T)
    if wake > now:
        assert due(lease, now, T) is Action.WAIT
    assert due(lease, max(wake, now), T) is not Action.WAIT
