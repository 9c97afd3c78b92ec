"""The pair's lease, epoch and switchover hand-off in Redis.

The lease is a key holding the serving instance's name with a TTL; the epoch
is a counter raised by one by every claim, takeover and hand-over, and every
write to the live log is checked against it (chat.livelog). Beside the lease,
the holder keeps the id of its own Redis connection (``holder-conn``): a
process killed with ``kill -9`` has its connections closed by the kernel at
once, so a backup that no longer finds that connection in ``CLIENT LIST``
knows the holder is dead without waiting for the lease to lapse.

Each step is one Lua script, so a claim and its epoch, or a renewal and its
check, are atomic; a round of the keeper (renew + heartbeat + switchover
request, or watch + heartbeat + adopt) is one round trip.
"""
from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as redis
from redis.exceptions import ResponseError

from chatsite import rediskeys

# KEYS: lease, epoch, holder-conn, alive, switchover.
# ARGV: name, epoch, grant ms, connection id, alive ms.
_RENEW = """
redis.call('SET', KEYS[4], '1', 'PX', ARGV[5])
local renewed = 0
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[3])
  renewed = 1
end
return {renewed, redis.call('GET', KEYS[5]) or ''}
"""

# KEYS: lease, epoch, holder-conn, alive, handover. ARGV: name, grant ms, alive ms.
_WATCH = """
redis.call('SET', KEYS[4], '1', 'PX', ARGV[3])
local holder = redis.call('GET', KEYS[1]) or ''
local epoch = tonumber(redis.call('GET', KEYS[2]) or '0')
if holder == ARGV[1] and redis.call('GET', KEYS[5]) == ARGV[1] then
  redis.call('DEL', KEYS[5])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {'adopted', '', epoch}
end
return {holder, redis.call('GET', KEYS[3]) or '', epoch}
"""

# KEYS: lease, epoch, last primary, holder-conn. ARGV: name, grant ms.
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('DEL', KEYS[4])
  local epoch = redis.call('INCR', KEYS[2])
  local previous = redis.call('GET', KEYS[3]) or ''
  redis.call('SET', KEYS[3], ARGV[1])
  return {epoch, previous}
end
return {0, ''}
"""

# KEYS: lease, epoch, last primary, holder-conn. ARGV: name, dead holder, its connection id, grant ms.
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) ~= ARGV[2] or redis.call('GET', KEYS[4]) ~= ARGV[3] then return {0, ''} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
redis.call('DEL', KEYS[4])
redis.call('SET', KEYS[3], ARGV[1])
return {redis.call('INCR', KEYS[2]), ARGV[2]}
"""

# KEYS: lease, epoch, last primary, handover, holder-conn. ARGV: name, epoch, target, ttl ms.
_HAND_OVER = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
redis.call('DEL', KEYS[5])
redis.call('SET', KEYS[3], ARGV[3])
redis.call('SET', KEYS[4], ARGV[3], 'PX', ARGV[4])
return redis.call('INCR', KEYS[2])
"""


@dataclass(frozen=True)
class Renewal:
    renewed: bool
    switchover_target: str | None  # the member an operator asked to switch over to


@dataclass(frozen=True)
class Sight:
    """What a backup's look at the lease found."""

    holder: str | None
    holder_connection: str | None  # the holder's Redis connection id, if it told one
    epoch: int
    adopted: bool  # a switchover handed the lease to us, and we took it


class Lease:
    def __init__(self, client: redis.Redis, pair: str, name: str) -> None:
        self._redis = client
        self.pair = pair
        self.name = name
        self._lease = rediskeys.pair_lease(pair)
        self._epoch = rediskeys.pair_epoch(pair)
        self._last = rediskeys.pair_last_primary(pair)
        self._handover = rediskeys.pair_handover(pair)
        self._holder_conn = rediskeys.pair_holder_connection(pair)
        self._alive = rediskeys.instance_alive(pair, name)
        self._switchover = rediskeys.pair_switchover(pair)
        self._renew = client.register_script(_RENEW)
        self._watch = client.register_script(_WATCH)
        self._claim = client.register_script(_CLAIM)
        self._take_over = client.register_script(_TAKE_OVER)
        self._hand_over = client.register_script(_HAND_OVER)

    async def renew(self, epoch: int, grant_ms: int, connection_id: str, alive_ms: int) -> Renewal:
        """Extend our lease by ``grant_ms`` and say we are alive; not renewed when it
        lapsed or the pair moved past ``epoch``."""
        renewed, target = await self._renew(
            keys=[self._lease, self._epoch, self._holder_conn, self._alive, self._switchover],
            args=[self.name, epoch, grant_ms, connection_id, alive_ms],
        )
        return Renewal(bool(renewed), target.decode() or None)

    async def watch(self, grant_ms: int, alive_ms: int) -> Sight:
        """Say we are alive and look at the lease; adopt it if a switchover handed it to us."""
        holder, connection, epoch = await self._watch(
            keys=[self._lease, self._epoch, self._holder_conn, self._alive, self._handover],
            args=[self.name, grant_ms, alive_ms],
        )
        if holder == b"adopted":
            return Sight(self.name, None, int(epoch), adopted=True)
        return Sight(holder.decode() or None, connection.decode() or None, int(epoch), adopted=False)

    async def claim(self, grant_ms: int) -> tuple[int, str] | None:
        """(new epoch, previous primary) if the lease was free and is now ours."""
        epoch, previous = await self._claim(
            keys=[self._lease, self._epoch, self._last, self._holder_conn], args=[self.name, grant_ms]
        )
        return (int(epoch), previous.decode()) if int(epoch) else None

    async def take_over(self, holder: str, connection_id: str, grant_ms: int) -> int | None:
        """Take the lease from a holder whose connection is gone; the new epoch, or None
        if the lease changed meanwhile (the holder renewed from a new connection)."""
        epoch, _ = await self._take_over(
            keys=[self._lease, self._epoch, self._last, self._holder_conn],
            args=[self.name, holder, connection_id, grant_ms],
        )
        return int(epoch) or None

    async def hand_over(self, epoch: int, target: str, ttl_ms: int) -> int | None:
        """Give the lease to ``target`` at a new epoch; None if it was no longer ours."""
        new_epoch = await self._hand_over(
            keys=[self._lease, self._epoch, self._last, self._handover, self._holder_conn],
            args=[self.name, epoch, target, ttl_ms],
        )
        return int(new_epoch) or None

    async def connection_id(self) -> str:
        """The connection this client talks on (the keeper's one), as
        "<server run id>/<CLIENT ID>": a connection id means something only on the
        Redis server that gave it, and a Redis failover (Sentinel) changes the
        server. "" where CLIENT ID or INFO is refused (a proxy, an ACL): the backup
        then waits for the lease to lapse, as it must without fast detection."""
        try:
            return f"{await self._server_run_id()}/{await self._redis.client_id()}"
        except ResponseError:
            return ""

    async def connected(self, connection_id: str) -> bool:
        """Whether the client of that connection is still connected to Redis. One
        made on another Redis server (the master before a failover) cannot be seen
        from here: taken as connected, so that the lease, not its absence from this
        server's client list, decides (the holder renews with a fresh id)."""
        run_id, _, client_id = connection_id.rpartition("/")
        try:
            if run_id != await self._server_run_id():
                return True
            # No such id is an empty list.
            return bool(await self._redis.client_list(client_id=[client_id]))
        except ResponseError:
            # CLIENT LIST or INFO refused (a proxy, an ACL): assume connected, let the lease lapse.
            return True

    async def _server_run_id(self) -> str:
        """The run id of the Redis server this client talks to (INFO server)."""
        return str((await self._redis.info("server"))["run_id"])

    async def alive(self, name: str) -> bool:
        """Whether member ``name`` of the pair said it was alive within the last lease."""
        return bool(await self._redis.exists(rediskeys.instance_alive(self.pair, name)))

    async def gone(self) -> None:
        """This member is stopping: it no longer says it is alive."""
        await self._redis.delete(self._alive)

    async def clear_switchover(self) -> None:
        await self._redis.delete(self._switchover)
