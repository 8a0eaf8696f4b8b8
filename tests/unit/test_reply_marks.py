"""Reply marks: the rules for every mark and token, the same in memory and in Redis (the
Lua scripts), and the lease's fenced writes of the update state in Redis."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tgstream.store.lease_redis import FencedSessions, RedisLease
from tgstream.store.lease_rules import Held, Lost, Renewed, Won
from tgstream.store.redis_store import PREFIX, RedisStore
from tgstream.store.reply_marks import (
    CLAIMED,
    DONE,
    SKIP,
    MemoryMarks,
    RedisMarks,
    ReplyMarks,
    advance_rule,
    claim_rule,
    copied,
    copied_id,
)

STEPS = [CLAIMED, copied(41), DONE]
MARKS: list[str | None] = [None, *(f"{fence}:{step}" for fence in (1, 2, 3) for step in STEPS)]


@pytest.mark.parametrize("mark", MARKS)
@pytest.mark.parametrize("fence", [1, 2, 3])
def test_claim_rule(mark: str | None, fence: int) -> None:
    step, stored = claim_rule(mark, fence)
    if mark is None:
        assert (step, stored) == (CLAIMED, f"{fence}:claimed")
        return
    owner, _, left_at = mark.partition(":")
    if left_at == DONE or int(owner) >= fence:
        # Answered, or being answered by this leader or a newer one.
        assert (step, stored) == (SKIP, None)
    else:
        # An older leader's half answer: taken over from where it stopped.
        assert (step, stored) == (left_at, f"{fence}:{left_at}")


@pytest.mark.parametrize("mark", MARKS)
@pytest.mark.parametrize("fence", [1, 2, 3])
def test_advance_rule(mark: str | None, fence: int) -> None:
    stored = advance_rule(mark, fence, DONE)
    ours = mark is not None and mark.startswith(f"{fence}:")
    assert stored == (f"{fence}:done" if ours else None)


def test_copied_round_trip() -> None:
    assert copied_id(copied(1234)) == 1234
    assert copied_id(CLAIMED) is None and copied_id(DONE) is None


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def _run(marks: ReplyMarks) -> list[object]:
    """One story through every branch; what each step answered."""
    seen: list[object] = []
    seen.append(await marks.claim(1, 10, fence=1))  # new
    seen.append(await marks.claim(1, 10, fence=1))  # a replay in the same leader
    seen.append(await marks.advance(1, 10, 1, copied(99)))
    seen.append(await marks.claim(1, 10, fence=2))  # a new leader finishes it
    seen.append(await marks.advance(1, 10, 1, DONE))  # the old one is fenced off
    seen.append(await marks.advance(1, 10, 2, DONE))
    seen.append(await marks.claim(1, 10, fence=3))  # done: never again
    seen.append(await marks.claim(1, 11, fence=3))  # another message
    seen.append(await marks.advance(2, 10, 3, DONE))  # never claimed
    return seen


STORY = [CLAIMED, SKIP, True, copied(99), False, True, SKIP, CLAIMED, False]


async def test_memory_marks_follow_the_rules() -> None:
    assert await _run(MemoryMarks()) == STORY


async def test_memory_marks_forget_the_oldest_past_their_limit() -> None:
    marks = MemoryMarks(limit=2)
    for message in range(3):
        await marks.claim(1, message, fence=1)
    assert list(marks.marks) == [(1, 1), (1, 2)]


async def test_redis_marks_follow_the_same_rules(redis: Redis) -> None:
    marks = RedisMarks(redis, PREFIX, ttl=60)
    assert await _run(marks) == STORY
    assert 0 < await redis.pttl(marks.key(1, 10)) <= 60_000
    for mark in MARKS[1:]:  # the scripts agree with the rules on every mark
        for fence in (1, 2, 3):
            await redis.set(marks.key(5, 5), mark)
            step, stored = claim_rule(mark, fence)
            assert await marks.claim(5, 5, fence) == step
            assert (await redis.get(marks.key(5, 5))).decode() == (stored or mark)


async def test_the_lease_is_taken_once_renewed_released_and_fences_state_writes(
    redis: Redis, redis_url: str
) -> None:
    first = RedisLease(redis, PREFIX, "a", lease=5)
    second = RedisLease(redis, PREFIX, "b", lease=5)
    won = await first.acquire()
    assert won == Won(1)
    held = await second.acquire()
    assert isinstance(held, Held) and held.holder == first.holder and 4 < held.expires_in <= 5
    assert await first.renew() == Renewed() and await second.renew() == Lost()

    store = RedisStore(redis_url)
    fence: list[int | None] = [1]
    sessions = FencedSessions(store, first, lambda: fence[0])
    await sessions.save_update_states(7, {0: (5, 0, 100, 1)})
    assert await store.update_states(7) == {0: (5, 0, 100, 1)}

    assert await first.release() and not await second.release()
    assert await second.acquire() == Won(2)
    # The old leader, not knowing yet: its write is refused, the new one's state stays.
    await redis.hset(f"{PREFIX}updates:7", "0", json.dumps([9, 0, 200, 2]))
    await sessions.save_update_states(7, {0: (6, 0, 150, 1)})
    await sessions.drop_update_states(7, [0])
    assert await store.update_states(7) == {0: (9, 0, 200, 2)} and sessions.refused == 2
    fence[0] = None  # a standby writes nothing
    await sessions.save_update_states(7, {0: (1, 0, 1, 1)})
    assert sessions.refused == 2
    fence[0] = 2
    fenced_new = FencedSessions(store, second, lambda: 2)
    await fenced_new.drop_update_states(7, [0])
    assert await store.update_states(7) == {}
    await store.close()
