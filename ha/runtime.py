"""This process's chat server instance: drives the role machine from the lease.

Two loops run beside daphne on its event loop: the lease loop (renew while
primary, watch and claim while backup, hand over on a switchover request) and
the options loop (re-read the application's options so a change made in the
admin applies without a restart).

Why the timings are safe (defaults: lease 1500 ms, renewal every 500 ms):
the primary counts its lease from the moment it *sent* the renewal, so by its
own clock the lease ends no later than Redis lets the key expire; it stops
serving at that moment even if Redis does not answer. A backup can claim only
after Redis expired the key, so the two never both serve. Two renewals may be
lost before the lease lapses, and a dead primary is replaced within
lease + one interval (about 2 s). The epoch fence in the live log covers what
clocks cannot: a primary paused past its lease (SIGSTOP, a long GC) that wakes
up and writes is refused, because the pair's epoch moved on.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

import redis.asyncio as redis
from django.conf import settings

from . import options
from .lease import Lease
from .models import Application
from .role import Action, Role, RoleMachine

logger = logging.getLogger("ha")

# Sockets of a busy instance share this many Redis connections and wait for a
# free one rather than fail; the lease has a client of its own, so that chat
# traffic never delays a renewal.
REDIS_CONNECTIONS = 64
REDIS_WAIT_S = 5
LEASE_REDIS_CONNECTIONS = 2
# A Redis that stops answering (a partition, not a refused connection) must end a
# lease round with an error well within the lease, so that the primary gives up
# its sockets on time; chat calls get longer, as a slow Redis is not yet a dead one.
LEASE_REDIS_TIMEOUT_S = 0.5
REDIS_TIMEOUT_S = 5

# A configured backup that starts with no primary around waits this many lease
# lengths before claiming, so that a pair started together ends up as configured.
STARTUP_GRACE_LEASES = 2


class RoleListener(Protocol):
    """What the chat service does when the role changes (chat.service.ChatService)."""

    async def serve(self, epoch: int, *, takeover: bool, previous: str) -> None: ...

    async def drain(self, new_primary: Application | None) -> None: ...

    async def stop_serving(self) -> None: ...


class Instance:
    def __init__(self, application: Application, settings_: options.Settings) -> None:
        self.application = application
        self.name = application.name
        self.pair = application.pair
        self.settings = settings_
        self.machine = RoleMachine(
            application.name, application.pair, application.configured_role == Application.Role.PRIMARY
        )
        self.redis = _client(REDIS_CONNECTIONS, REDIS_TIMEOUT_S)
        self.lease = Lease(_client(LEASE_REDIS_CONNECTIONS, LEASE_REDIS_TIMEOUT_S), self.pair, self.name)
        self.listener: RoleListener | None = None
        self._started = time.monotonic()
        self._lease_valid_until = 0.0
        # The epoch whose sessions are restored: serving waits for it, and the
        # restoration runs beside the lease loop so that renewals go on meanwhile.
        self._restored_epoch = 0
        self._restoring: asyncio.Task | None = None

    @property
    def role(self) -> Role:
        return self.machine.role

    @property
    def epoch(self) -> int:
        return self.machine.epoch

    @property
    def serving(self) -> bool:
        """Serving needs the role, the sessions restored, and a lease that has not
        lapsed by our own clock."""
        return (
            self.machine.serving
            and self._restored_epoch == self.epoch
            and time.monotonic() < self._lease_valid_until
        )

    async def run(self) -> None:
        await asyncio.gather(self._lease_loop(), self._options_loop())

    # -- the lease ------------------------------------------------------------

    async def _lease_loop(self) -> None:
        while True:
            try:
                await self._lease_tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s: lease check failed (role %s, epoch %d)", self.name, self.role, self.epoch)
                if self.machine.holds_lease and time.monotonic() >= self._lease_valid_until:
                    await self._act(self.machine.lease_lost(), "its lease lapsed while Redis did not answer")
            await asyncio.sleep(self.settings["ha-renew-interval-ms"] / 1000)

    async def _lease_tick(self) -> None:
        ttl_ms = self.settings["ha-lease-ttl-ms"]
        asked = time.monotonic()
        await self.lease.heartbeat(ttl_ms)
        if self.machine.holds_lease:
            if not await self.lease.renew(self.epoch, ttl_ms):
                await self._act(self.machine.lease_lost(), "another instance holds the lease")
                return
            self._lease_valid_until = asked + ttl_ms / 1000
            target = await self.lease.switchover_target()
            if target is not None:
                await self._switch_over(target, ttl_ms)
            return

        epoch = await self.lease.adopt(ttl_ms)
        if epoch is not None:
            self._lease_valid_until = asked + ttl_ms / 1000
            await self._act(self.machine.lease_handed_to_us(epoch), "the primary handed over (switchover)")
            return
        if self.machine.may_claim(time.monotonic() - self._started, STARTUP_GRACE_LEASES * ttl_ms / 1000):
            claimed = await self.lease.claim(ttl_ms)
            if claimed is not None:
                self._lease_valid_until = asked + ttl_ms / 1000
                epoch, previous = claimed
                why = f"took over from {previous}, whose lease lapsed" if previous else "first primary of the pair"
                await self._act(self.machine.lease_won(epoch), why, previous=previous)
                return
        holder = await self.lease.holder()
        if holder is not None and holder != self.name:
            if self.role is Role.STARTING:
                logger.info("%s: backup of pair %s at epoch %d: %s is primary",
                            self.name, self.pair, await self.lease.epoch(), holder)
            await self._act(self.machine.lease_held_by_other(), f"{holder} serves the pair")
        else:
            self.machine.lease_free()

    async def _switch_over(self, target: str, ttl_ms: int) -> None:
        await self.lease.clear_switchover()
        if target == self.name:
            return
        new_primary = await Application.objects.filter(name=target, pair=self.pair).afirst()
        if new_primary is None:
            logger.warning("%s: switchover to %s refused: not a member of pair %s", self.name, target, self.pair)
            return
        logger.info("%s: switching pair %s over to %s", self.name, self.pair, target)
        await self._act(self.machine.switchover_asked(), "an operator asked", new_primary=new_primary)
        new_epoch = await self.lease.hand_over(self.epoch, target, ttl_ms)
        why = f"handed the lease to {target} at epoch {new_epoch}" if new_epoch else "the lease was no longer ours"
        await self._act(self.machine.handed_over(), why)

    async def fenced(self, pair_epoch: int) -> None:
        """A write was refused because the pair moved past our epoch: stop at once."""
        if self.machine.holds_lease:
            await self._act(self.machine.lease_lost(), f"the pair is at epoch {pair_epoch}")

    async def _act(self, actions: list[Action], why: str, *, previous: str = "",
                   new_primary: Application | None = None) -> None:
        for action in actions:
            if action in (Action.RESTORE_AND_SERVE, Action.RESUME_AND_SERVE):
                logger.info("%s: now primary of pair %s at epoch %d: %s", self.name, self.pair, self.epoch, why)
                self._restoring = asyncio.ensure_future(
                    self._restore(self.epoch, takeover=action is Action.RESTORE_AND_SERVE, previous=previous)
                )
            elif action is Action.DRAIN:
                if self.listener is not None:
                    await self.listener.drain(new_primary)
            elif action is Action.STOP_SERVING:
                if self._restoring is not None and self._restoring is not asyncio.current_task():
                    self._restoring.cancel()
                logger.warning("%s: no longer primary of pair %s after epoch %d (%s); now backup",
                               self.name, self.pair, self.epoch, why)
                if self.listener is not None:
                    await self.listener.stop_serving()

    async def _restore(self, epoch: int, *, takeover: bool, previous: str) -> None:
        try:
            if self.listener is not None:
                await self.listener.serve(epoch, takeover=takeover, previous=previous)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Serving without the sessions would lose chats: give the role up, so
            # that the other instance (or this one, next round) restores them.
            logger.exception("%s: restoring the sessions of pair %s at epoch %d failed", self.name, self.pair, epoch)
            await self._act(self.machine.lease_lost(), "it could not restore the sessions")
            return
        self._restored_epoch = epoch

    # -- options --------------------------------------------------------------

    async def _options_loop(self) -> None:
        while True:
            await asyncio.sleep(settings.OPTIONS_POLL_SECONDS)
            try:
                fresh = await self.application.asettings()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s: could not re-read options", self.name)
                continue
            if fresh != self.settings:
                changed = [name for name in fresh if fresh[name] != self.settings[name]]
                logger.info("%s: options changed: %s", self.name,
                            ", ".join(f"{name}={fresh[name]}" for name in changed))
                self.settings = fresh


def _client(connections: int, timeout_s: float) -> redis.Redis:
    pool = redis.BlockingConnectionPool.from_url(
        settings.REDIS_URL, max_connections=connections, timeout=REDIS_WAIT_S,
        socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
    )
    return redis.Redis(connection_pool=pool)


_current: Instance | None = None


def install(instance: Instance) -> None:
    global _current
    _current = instance


def current() -> Instance | None:
    """This process's instance, or None outside ``runchatserver``."""
    return _current
