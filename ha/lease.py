"""The pair's lease and epoch in Redis.

The lease is a key holding the serving instance's name with a TTL; the epoch
is a counter raised by one by every successful claim. Both checks run inside
Lua scripts, so a claim and its epoch, or a renewal and its check, are atomic.
"""
from __future__ import annotations

import redis.asyncio as redis

from chatsite import rediskeys

_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 0
"""


class Lease:
    def __init__(self, client: redis.Redis, pair: str, name: str) -> None:
        self._redis = client
        self.name = name
        self._keys = [rediskeys.pair_lease(pair), rediskeys.pair_epoch(pair)]
        self._claim = client.register_script(_CLAIM)
        self._renew = client.register_script(_RENEW)

    async def claim(self, ttl_ms: int) -> int | None:
        """The new epoch if the lease was free and is now ours, else None."""
        epoch = await self._claim(keys=self._keys, args=[self.name, ttl_ms])
        return int(epoch) or None

    async def renew(self, epoch: int, ttl_ms: int) -> bool:
        """Extend our lease; False when it lapsed or the pair moved past ``epoch``."""
        return bool(await self._renew(keys=self._keys, args=[self.name, epoch, ttl_ms]))

    async def holder(self) -> str | None:
        raw = await self._redis.get(self._keys[0])
        return raw.decode() if raw is not None else None

    async def epoch(self) -> int:
        return int(await self._redis.get(self._keys[1]) or 0)
