"""The leader lease in Redis, and the update-state writes it fences (the rules of when to
call what are in lease_rules.py).

Keys, beside the shared store's (same prefix):
  leader         string  the holder's name and token, with the lease period as its TTL
  leader:fence   counter INCRed on each acquisition: the fencing token
Every write of the bot's update state runs as a script that first compares the counter
with the writer's token: a leader that was paused past its lease, and has not noticed yet,
cannot overwrite the state of the leader that followed it.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .interface import BotSessions
from .lease_rules import Held, Lost, Outcome, Renewed, Unreachable, Won
from .records import SessionFields, UpdateStates

log = logging.getLogger("tgstream.store.lease")

# Take the lease if it is free (or still ours from before), and count the acquisition.
_ACQUIRE = """
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then
  return {0, held, redis.call('PTTL', KEYS[1])}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, redis.call('INCR', KEYS[2])}
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# ARGV: the writer's fence, then field/value pairs to set, or (`-`) fields to delete.
_FENCED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '-' then
  for i = 3, #ARGV do redis.call('HDEL', KEYS[2], ARGV[i]) end
else
  for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
end
return 1
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisLease:
    def __init__(self, client: Redis, prefix: str, name: str, lease: float) -> None:
        # The name says who holds it in /status; the random part tells two runs apart.
        self.holder = f"{name}/{secrets.token_hex(6)}"
        self.lease_ms = max(1, int(lease * 1000))
        self.key = f"{prefix}leader"
        self.fence_key = f"{prefix}leader:fence"
        self.prefix = prefix
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._fenced = client.register_script(_FENCED)

    async def acquire(self) -> Outcome:
        try:
            answer = await self._acquire(
                keys=[self.key, self.fence_key], args=[self.holder, self.lease_ms]
            )
        except (RedisError, OSError):
            return Unreachable()
        if int(answer[0]) == 1:
            return Won(int(answer[1]))
        return Held(_text(answer[1]), max(0, int(answer[2])) / 1000)

    async def renew(self) -> Outcome:
        try:
            renewed = await self._renew(keys=[self.key], args=[self.holder, self.lease_ms])
        except (RedisError, OSError):
            return Unreachable()
        return Renewed() if int(renewed) else Lost()

    async def release(self) -> bool:
        try:
            return bool(await self._release(keys=[self.key], args=[self.holder]))
        except (RedisError, OSError) as exc:
            log.warning("lease not released, it runs out instead", extra={"error": str(exc)})
            return False

    async def write_fenced(self, bot_id: int, fence: int, args: list[str | int]) -> bool:
        """Run one fenced write of the bot's update state; whether it was taken."""
        keys = [self.fence_key, f"{self.prefix}updates:{bot_id}"]
        return bool(await self._fenced(keys=keys, args=[fence, *args]))


class FencedSessions:
    """The main bot's sessions on the shared store, with its update state written only under
    the current fencing token: a standby writes none, and a write refused (or lost with
    Redis) is left to the next leader, whose getDifference starts from the state before it
    (the reply marks absorb what that replays)."""

    def __init__(
        self, sessions: BotSessions, lease: RedisLease, fence: Callable[[], int | None]
    ) -> None:
        self.sessions = sessions
        self.lease = lease
        self.fence = fence
        self.refused = 0

    async def bot_session(self, bot_id: int) -> SessionFields:
        return await self.sessions.bot_session(bot_id)

    async def save_bot_session(self, bot_id: int, fields: SessionFields) -> None:
        await self.sessions.save_bot_session(bot_id, fields)

    async def update_states(self, bot_id: int) -> UpdateStates:
        return await self.sessions.update_states(bot_id)

    async def _write(self, bot_id: int, args: list[str | int]) -> None:
        fence = self.fence()
        if fence is None:
            return  # a standby: the leader keeps the state
        try:
            taken = await self.lease.write_fenced(bot_id, fence, args)
        except (RedisError, OSError) as exc:
            log.warning("update state not written", extra={"error": str(exc)})
            return
        if not taken:
            self.refused += 1
            log.warning("update state write fenced off", extra={"fence": fence})

    async def save_update_states(self, bot_id: int, states: UpdateStates) -> None:
        args: list[str | int] = []
        for state_id, state in states.items():
            args += [str(state_id), json.dumps(list(state))]
        if args:
            await self._write(bot_id, args)

    async def drop_update_states(self, bot_id: int, ids: list[int]) -> None:
        if ids:
            await self._write(bot_id, ["-", *(str(i) for i in ids)])
