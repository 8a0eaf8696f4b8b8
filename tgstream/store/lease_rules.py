"""The leader lease's rules: when to take it, renew it, give it up.  No I/O and no clock:
the caller passes the time (monotonic seconds) and what Redis answered.

Replicas on one shared state elect the one that handles the bot's updates with a lease in
Redis (`lease_redis.py` does the I/O).  The rules here keep one property: a replica acts as
the leader only while the lease it took cannot yet have run out for the others.  Its view
of the lease is measured from when it *sent* the command that took or renewed it (Redis
started the lease's clock later, never earlier), and it stops leading `guard` seconds
before that view says the lease could end, so a slow clock or a late renewal cannot leave
two leaders.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace


class Role(enum.Enum):
    STANDBY = "standby"
    LEADER = "leader"


class Action(enum.Enum):
    WAIT = "wait"
    ACQUIRE = "acquire"
    RENEW = "renew"
    STEP_DOWN = "step down"


@dataclass(frozen=True)
class Timing:
    """Everything follows from the lease period (the LEASE setting)."""

    lease: float

    @property
    def renew_every(self) -> float:
        # Three renewals a period: two can fail (a blip of Redis) before the guard is near.
        return self.lease / 3

    @property
    def guard(self) -> float:
        # Stop leading this long before the lease could run out for the others.
        return self.lease / 5

    @property
    def retry(self) -> float:
        # A failed renewal is tried again this often, until the guard says stop.
        return self.lease / 10

    @property
    def poll(self) -> float:
        # A standby looks at the lease at least this often (a release is then seen soon).
        return self.lease / 4


@dataclass(frozen=True)
class Won:
    """We took the lease; `fence` is the counter's value for this acquisition."""

    fence: int


@dataclass(frozen=True)
class Held:
    """Another replica holds it, for `expires_in` seconds more unless it renews."""

    holder: str
    expires_in: float


@dataclass(frozen=True)
class Renewed:
    pass


@dataclass(frozen=True)
class Lost:
    """The lease is no longer ours (it ran out, or another replica took it)."""


@dataclass(frozen=True)
class Unreachable:
    """Redis did not answer: nothing is known."""


Outcome = Won | Held | Renewed | Lost | Unreachable


@dataclass(frozen=True)
class Lease:
    role: Role = Role.STANDBY
    fence: int | None = None
    # Leader: the time (ours) after which the lease may have run out for the others.
    valid_until: float = 0.0
    # When to act next (acquire as a standby, renew as the leader).
    next_at: float = 0.0
    # Who holds the lease as far as we last saw: None when we do, or nobody is known.
    holder: str | None = None

    @property
    def leading(self) -> bool:
        return self.role is Role.LEADER


def due(lease: Lease, now: float, timing: Timing) -> Action:
    """What to do at `now`."""
    if lease.leading:
        if now >= lease.valid_until - timing.guard:
            return Action.STEP_DOWN
        return Action.RENEW if now >= lease.next_at else Action.WAIT
    return Action.ACQUIRE if now >= lease.next_at else Action.WAIT


def wake_at(lease: Lease, timing: Timing) -> float:
    """When `due` next says something other than WAIT."""
    if lease.leading:
        return min(lease.next_at, lease.valid_until - timing.guard)
    return lease.next_at


def after(lease: Lease, outcome: Outcome, sent_at: float, now: float, timing: Timing) -> Lease:
    """The lease once Redis answered `outcome` to a command sent at `sent_at`."""
    match outcome:
        case Won(fence):
            return Lease(
                Role.LEADER,
                fence,
                valid_until=sent_at + timing.lease,
                next_at=sent_at + timing.renew_every,
            )
        case Renewed() if lease.leading:
            return replace(
                lease, valid_until=sent_at + timing.lease, next_at=sent_at + timing.renew_every
            )
        case Renewed():
            # A renewal answered after we stepped down: we do not lead on a stale answer.
            return lease
        case Held(holder, expires_in):
            # Look again right when it could run out, and no later than the poll.
            wait = min(max(expires_in, 0.0), timing.poll)
            return Lease(Role.STANDBY, None, next_at=now + wait, holder=holder)
        case Lost():
            return Lease(Role.STANDBY, None, next_at=now)
        case Unreachable() if lease.leading:
            # Keep leading while the lease is surely ours; `due` steps down at the guard.
            return replace(lease, next_at=now + timing.retry)
        case Unreachable():
            return replace(lease, next_at=now + timing.poll)
    raise AssertionError(f"unknown outcome {outcome!r}")


def stepped_down(lease: Lease, now: float, timing: Timing) -> Lease:
    """A leader that stopped leading (the guard passed, or it is shutting down)."""
    return Lease(Role.STANDBY, None, next_at=now + timing.retry, holder=lease.holder)
