"""The pair's lease, epoch and switchover hand-off in Redis.

The lease is a key holding the serving instance's name with a TTL; the epoch
is a counter raised by one by every claim and every hand-over, and every write
to the live log is checked against it (chat.livelog). Each step is one Lua
script, so a claim and its epoch, or a renewal and its check, are atomic.
"""
from __future__ import annotations

import redis.asyncio as redis

from chatsite import rediskeys

# KEYS: lease, epoch, last primary. ARGV: name, ttl ms.
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local epoch = redis.call('INCR', KEYS[2])
  local previous = redis.call('GET', KEYS[3]) or ''
  redis.call('SET', KEYS[3], ARGV[1])
  return {epoch, previous}
end
return {0, ''}
"""

# KEYS: lease, epoch. ARGV: name, epoch, ttl ms.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 0
"""

# KEYS: lease, epoch, last primary, handover. ARGV: name, epoch, target, ttl ms.
_HAND_OVER = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
redis.call('SET', KEYS[3], ARGV[3])
redis.call('SET', KEYS[4], ARGV[3], 'PX', ARGV[4])
return redis.call('INCR', KEYS[2])
"""

# KEYS: lease, epoch, handover. ARGV: name, ttl ms.
_ADOPT = """
if redis.call('GET', KEYS[3]) == ARGV[1] and redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('GET', KEYS[2]))
end
return 0
"""


class Lease:
    def __init__(self, client: redis.Redis, pair: str, name: str) -> None:
        self._redis = client
        self.pair = pair
        self.name = name
        self._lease = rediskeys.pair_lease(pair)
        self._epoch = rediskeys.pair_epoch(pair)
        self._last = rediskeys.pair_last_primary(pair)
        self._handover = rediskeys.pair_handover(pair)
        self._claim = client.register_script(_CLAIM)
        self._renew = client.register_script(_RENEW)
        self._hand_over = client.register_script(_HAND_OVER)
        self._adopt = client.register_script(_ADOPT)

    async def claim(self, ttl_ms: int) -> tuple[int, str] | None:
        """(new epoch, previous primary) if the lease was free and is now ours."""
        epoch, previous = await self._claim(keys=[self._lease, self._epoch, self._last], args=[self.name, ttl_ms])
        return (int(epoch), previous.decode()) if int(epoch) else None

    async def renew(self, epoch: int, ttl_ms: int) -> bool:
        """Extend our lease; False when it lapsed or the pair moved past ``epoch``."""
        return bool(await self._renew(keys=[self._lease, self._epoch], args=[self.name, epoch, ttl_ms]))

    async def hand_over(self, epoch: int, target: str, ttl_ms: int) -> int | None:
        """Give the lease to ``target`` at a new epoch; None if it was no longer ours."""
        new_epoch = await self._hand_over(
            keys=[self._lease, self._epoch, self._last, self._handover], args=[self.name, epoch, target, ttl_ms]
        )
        return int(new_epoch) or None

    async def adopt(self, ttl_ms: int) -> int | None:
        """The epoch of a lease just handed to us by a switchover, if one was."""
        epoch = await self._adopt(keys=[self._lease, self._epoch, self._handover], args=[self.name, ttl_ms])
        return int(epoch) or None

    async def holder(self) -> str | None:
        raw = await self._redis.get(self._lease)
        return raw.decode() if raw is not None else None

    async def epoch(self) -> int:
        return int(await self._redis.get(self._epoch) or 0)

    async def heartbeat(self, ttl_ms: int) -> None:
        """Say this instance is alive, for ha_status and for a switchover's target."""
        await self._redis.set(rediskeys.instance_alive(self.pair, self.name), "1", px=ttl_ms)

    async def switchover_target(self) -> str | None:
        """The backup an operator asked this pair to switch over to, if any."""
        raw = await self._redis.get(rediskeys.pair_switchover(self.pair))
        return raw.decode() if raw is not None else None

    async def clear_switchover(self) -> None:
        await self._redis.delete(rediskeys.pair_switchover(self.pair))
