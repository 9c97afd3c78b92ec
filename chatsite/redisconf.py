"""Every Redis connection of the project is made here (issue 11).

Two ways to find Redis, chosen by the environment (docs/operations.md):

- ``REDIS_URL`` alone: one server at that URL, as always;
- ``REDIS_SENTINELS=host:port,...`` and ``REDIS_SENTINEL_MASTER=name`` (and
  ``REDIS_DB``, default 0): the master the sentinels name, asked again after
  a connection fails, so that a client follows a Redis failover.

The chat path, the lease keeper, the Django side, the transcript worker, the
channel layer and the Celery broker all take their clients or their settings
from one ``RedisConfig``; none of them knows which of the two ways is used.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.asyncio as aioredis
from django.core.exceptions import ImproperlyConfigured
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.asyncio.sentinel import SentinelConnectionPool as AsyncSentinelPool
from redis.asyncio.sentinel import SentinelManagedConnection as AsyncSentinelConnection
from redis.sentinel import Sentinel, SentinelConnectionPool

logger = logging.getLogger("chatsite.redis")

# A sentinel that does not answer within this long is skipped for the next one:
# sentinels are asked before every new connection, and the lease keeper's
# connection must fail within its own short timeout (ha.keeper), not a sentinel's.
SENTINEL_TIMEOUT_S = 0.5


class _AsyncSentinelConnection(AsyncSentinelConnection):
    """Asks the sentinels for the master again when it reconnects on its own.

    redis-py reconnects a connection that a client keeps (``single_connection_client``,
    the lease keeper's) inside ``send_packed_command``, to the address it had, which
    skips the sentinels: after a failover it would knock on the dead master forever.
    """

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self.is_connected:
            await self.connect()
        await super().send_packed_command(command, check_health)


class _AsyncSentinelPool(AsyncSentinelPool):
    """Connections to the master the sentinels name; says in the log when that
    master changed (a failover), once per pool."""

    def __init__(self, service_name: str, sentinel_manager: AsyncSentinel, **kwargs: Any) -> None:
        kwargs.setdefault("connection_class", _AsyncSentinelConnection)
        super().__init__(service_name, sentinel_manager, **kwargs)

    async def get_master_address(self) -> tuple[str, int]:
        before = self.master_address
        address = await super().get_master_address()
        if before is not None and address != before:
            logger.warning("Redis master %r is now %s:%s (was %s:%s): the sentinels failed it over",
                           self.service_name, *address, *before)
        return address


class _AsyncBlockingSentinelPool(_AsyncSentinelPool, aioredis.BlockingConnectionPool):
    """The chat path's pool through Sentinel: a fixed number of connections that
    callers wait for (BlockingConnectionPool), each to the master of the moment."""


class _AsyncSentinelMaster(aioredis.Redis):
    """A master's client that also closes its connections to the sentinels: the
    worker makes one per save, and each would otherwise leave three sockets open."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        try:
            await super().aclose(close_connection_pool)
        finally:
            await self.connection_pool.sentinel_manager.aclose()


class _SentinelMaster(redis.Redis):
    """See _AsyncSentinelMaster."""

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.connection_pool.sentinel_manager.close()


@dataclass(frozen=True)
class RedisConfig:
    """Where Redis is: a URL, or a master's name and its sentinels."""

    url: str
    sentinels: tuple[tuple[str, int], ...] = field(default=())
    master: str = ""
    db: int = 0

    @classmethod
    def from_values(cls, url: str, sentinels: str = "", master: str = "", db: int = 0) -> RedisConfig:
        """The configuration the environment gives (ImproperlyConfigured if it is
        half a Sentinel one or names a sentinel badly)."""
        addresses = tuple(_address(part) for part in sentinels.split(",") if part.strip())
        if bool(addresses) != bool(master):
            raise ImproperlyConfigured(
                "REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together: set both, or neither to use REDIS_URL"
            )
        if db < 0:
            raise ImproperlyConfigured(f"REDIS_DB must be an integer >= 0, not {db}")
        return cls(url, addresses, master, db)

    @property
    def uses_sentinel(self) -> bool:
        return bool(self.sentinels)

    def describe(self) -> str:
        """For logs and start-up messages."""
        if not self.uses_sentinel:
            return f"Redis at {self.url}"
        where = ",".join(f"{host}:{port}" for host, port in self.sentinels)
        return f"Redis master {self.master!r} (db {self.db}) through the sentinels {where}"

    # -- clients --------------------------------------------------------------

    def client(self, **connection: Any) -> redis.Redis:
        """A synchronous client; ``connection`` as redis-py's (timeouts, decoding)."""
        if not self.uses_sentinel:
            return redis.Redis.from_url(self.url, **connection)
        sentinel = Sentinel(self.sentinels, sentinel_kwargs=_sentinel_kwargs())
        pool = SentinelConnectionPool(self.master, sentinel, db=self.db, **connection)
        client = _SentinelMaster(connection_pool=pool)
        client.auto_close_connection_pool = True
        return client

    def async_client(self, *, single_connection: bool = False, **connection: Any) -> aioredis.Redis:
        """An asyncio client that owns its connections (``aclose`` closes them);
        ``single_connection`` keeps one connection for its whole life (the lease
        keeper's, whose id the backup watches)."""
        if not self.uses_sentinel:
            return aioredis.Redis.from_url(self.url, single_connection_client=single_connection, **connection)
        pool = _AsyncSentinelPool(self.master, self._async_sentinel(), db=self.db, **connection)
        client = _AsyncSentinelMaster(connection_pool=pool, single_connection_client=single_connection)
        client.auto_close_connection_pool = True
        return client

    def async_pooled_client(self, max_connections: int, wait_s: float, **connection: Any) -> aioredis.Redis:
        """An asyncio client on a blocking pool of ``max_connections``: a caller waits
        up to ``wait_s`` for a free connection rather than fail (the chat path's)."""
        if not self.uses_sentinel:
            pool = aioredis.BlockingConnectionPool.from_url(
                self.url, max_connections=max_connections, timeout=wait_s, **connection)
            return aioredis.Redis(connection_pool=pool)
        pool = _AsyncBlockingSentinelPool(
            self.master, self._async_sentinel(), db=self.db, max_connections=max_connections, timeout=wait_s,
            **connection,
        )
        return _AsyncSentinelMaster(connection_pool=pool)

    def _async_sentinel(self) -> AsyncSentinel:
        return AsyncSentinel(self.sentinels, sentinel_kwargs=_sentinel_kwargs())

    # -- other libraries' settings --------------------------------------------

    def channel_layer_host(self, **connection: Any) -> dict[str, Any]:
        """One entry of channels_redis' ``hosts``."""
        if not self.uses_sentinel:
            return {"address": self.url, **connection}
        return {"sentinels": list(self.sentinels), "master_name": self.master, "db": self.db,
                "sentinel_kwargs": _sentinel_kwargs(), **connection}

    def celery_url(self) -> str:
        """Celery's broker URL: kombu's ``sentinel://`` transport lists every sentinel."""
        if not self.uses_sentinel:
            return self.url
        return ";".join(f"sentinel://{_in_url(host)}:{port}/{self.db}" for host, port in self.sentinels)

    def celery_transport_options(self) -> dict[str, Any]:
        """What kombu's sentinel transport needs besides the URL."""
        if not self.uses_sentinel:
            return {}
        return {"master_name": self.master, "sentinel_kwargs": _sentinel_kwargs()}


def _sentinel_kwargs() -> dict[str, Any]:
    return {"socket_timeout": SENTINEL_TIMEOUT_S, "socket_connect_timeout": SENTINEL_TIMEOUT_S}


def _in_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.strip().rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ImproperlyConfigured(f"REDIS_SENTINELS: {text.strip()!r} is not host:port")
    return host.strip("[]"), int(port)


def config() -> RedisConfig:
    """The configuration of this process (Django's settings)."""
    from django.conf import settings

    return RedisConfig.from_values(
        settings.REDIS_URL, settings.REDIS_SENTINELS, settings.REDIS_SENTINEL_MASTER, settings.REDIS_DB)
