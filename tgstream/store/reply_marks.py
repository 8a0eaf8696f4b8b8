"""Marks that make the bot's answer to one message happen once, across replicas and
take-overs.

Before the bot copies a user's file or answers a message it claims the message's mark;
each step it completes is recorded under its fencing token.  A new leader that replays
updates (getDifference from the shared update state) finds the mark: `done` is skipped, a
step a dead leader (an older token) left half-way is finished from there, and a claim of
its own or a newer leader's is left alone.  A leader that lost the lease while answering
finds its next step refused, and stops.

The mark is `{fence}:{step}`, step one of `claimed`, `copied:{message id}`, `done`.
"""

from __future__ import annotations

import logging
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("tgstream.store.reply_marks")

CLAIMED = "claimed"
DONE = "done"
SKIP = "skip"
# A replay comes from a take-over's getDifference, within minutes: a day is plenty.
TTL_SECONDS = 24 * 3600


def copied(message_id: int) -> str:
    return f"copied:{message_id}"


def copied_id(step: str) -> int | None:
    kind, _, value = step.partition(":")
    return int(value) if kind == "copied" else None


def _split(mark: str) -> tuple[int, str]:
    owner, _, step = mark.partition(":")
    return int(owner), step


def claim_rule(mark: str | None, fence: int) -> tuple[str, str | None]:
    """(the step to go on from, or SKIP; the mark to store, or None to leave it)."""
    if mark is None:
        return CLAIMED, f"{fence}:{CLAIMED}"
    owner, step = _split(mark)
    if step == DONE or owner >= fence:
        return SKIP, None
    return step, f"{fence}:{step}"


def advance_rule(mark: str | None, fence: int, step: str) -> str | None:
    """The mark after completing `step`, or None when the claim is no longer ours."""
    if mark is None or _split(mark)[0] != fence:
        return None
    return f"{fence}:{step}"


class ReplyMarks(Protocol):
    async def claim(self, chat_id: int, message_id: int, fence: int) -> str:
        """The step to go on from (CLAIMED: from the start), or SKIP."""
        ...

    async def advance(self, chat_id: int, message_id: int, fence: int, step: str) -> bool:
        """Record `step` as done; False when the claim is no longer ours (stop)."""
        ...


class MemoryMarks:
    """One server: replays come only from its own gap recovery; a day of marks is small,
    but the oldest go first past `limit`."""

    def __init__(self, limit: int = 100_000) -> None:
        self.marks: dict[tuple[int, int], str] = {}
        self.limit = limit

    async def claim(self, chat_id: int, message_id: int, fence: int) -> str:
        step, mark = claim_rule(self.marks.get((chat_id, message_id)), fence)
        if mark is not None:
            self.marks[(chat_id, message_id)] = mark
            while len(self.marks) > self.limit:
                del self.marks[next(iter(self.marks))]
        return step

    async def advance(self, chat_id: int, message_id: int, fence: int, step: str) -> bool:
        mark = advance_rule(self.marks.get((chat_id, message_id)), fence, step)
        if mark is None:
            return False
        self.marks[(chat_id, message_id)] = mark
        return True


# The two rules above, run inside Redis so that reading and writing a mark is one step.
_CLAIM = """
local mark = redis.call('GET', KEYS[1])
if not mark then
  redis.call('SET', KEYS[1], ARGV[1] .. ':claimed', 'PX', ARGV[2])
  return 'claimed'
end
local sep = string.find(mark, ':', 1, true)
local step = string.sub(mark, sep + 1)
if step == 'done' or tonumber(string.sub(mark, 1, sep - 1)) >= tonumber(ARGV[1]) then
  return 'skip'
end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. step, 'KEEPTTL')
return step
"""
_ADVANCE = """
local mark = redis.call('GET', KEYS[1])
if not mark then return 0 end
local sep = string.find(mark, ':', 1, true)
if string.sub(mark, 1, sep - 1) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 'KEEPTTL')
return 1
"""


class RedisMarks:
    """Replicas: the marks in the shared Redis.  When Redis does not answer, the bot answers
    anyway (a lost answer is worse than a rare second one, and a leader cut off from Redis
    stops leading within the lease anyway)."""

    def __init__(self, client: Redis, prefix: str, ttl: float = TTL_SECONDS) -> None:
        self.prefix = prefix
        self.ttl_ms = int(ttl * 1000)
        self._claim = client.register_script(_CLAIM)
        self._advance = client.register_script(_ADVANCE)

    def key(self, chat_id: int, message_id: int) -> str:
        return f"{self.prefix}reply:{chat_id}:{message_id}"

    async def claim(self, chat_id: int, message_id: int, fence: int) -> str:
        try:
            step = await self._claim(
                keys=[self.key(chat_id, message_id)], args=[fence, self.ttl_ms]
            )
        except (RedisError, OSError) as exc:
            log.warning("reply mark unreadable, answering anyway", extra={"error": str(exc)})
            return CLAIMED
        return step.decode() if isinstance(step, bytes) else str(step)

    async def advance(self, chat_id: int, message_id: int, fence: int, step: str) -> bool:
        try:
            done = await self._advance(keys=[self.key(chat_id, message_id)], args=[fence, step])
        except (RedisError, OSError) as exc:
            log.warning("reply mark unwritable, going on", extra={"error": str(exc)})
            return True
        return bool(done)
