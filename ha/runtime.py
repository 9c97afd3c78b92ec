"""This process's chat server instance: drives the role machine from the lease.

Two loops run beside daphne on its event loop: the lease loop (renew while
primary, watch and claim while backup) and the options loop (re-read the
application's options so a change in the admin applies without a restart).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as redis
from django.conf import settings

from . import options
from .lease import Lease
from .models import Application
from .role import Action, Role, RoleMachine

logger = logging.getLogger("ha")

# A configured backup that starts with no primary around waits this many lease
# lengths before claiming, so that a pair started together ends up as configured.
STARTUP_GRACE_LEASES = 2


class Instance:
    def __init__(self, application: Application, settings_: options.Settings) -> None:
        self.application = application
        self.name = application.name
        self.pair = application.pair
        self.settings = settings_
        self.machine = RoleMachine(
            application.name, application.pair, application.configured_role == Application.Role.PRIMARY
        )
        self.redis = redis.Redis.from_url(settings.REDIS_URL)
        self.lease = Lease(self.redis, self.pair, self.name)
        self.on_serve: list[Callable[[int], Awaitable[None]]] = []
        self.on_stop_serving: list[Callable[[], Awaitable[None]]] = []
        self._started = time.monotonic()
        self._lease_valid_until = 0.0

    @property
    def role(self) -> Role:
        return self.machine.role

    @property
    def epoch(self) -> int:
        return self.machine.epoch

    @property
    def serving(self) -> bool:
        """Serving needs the role and a lease that has not lapsed by our own clock."""
        return self.machine.serving and time.monotonic() < self._lease_valid_until

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
                if self.machine.serving and time.monotonic() >= self._lease_valid_until:
                    await self._act(self.machine.lease_lost(), "its lease lapsed while Redis did not answer")
            await asyncio.sleep(self.settings["ha-renew-interval-ms"] / 1000)

    async def _lease_tick(self) -> None:
        ttl_ms = self.settings["ha-lease-ttl-ms"]
        asked = time.monotonic()
        if self.machine.serving:
            if await self.lease.renew(self.epoch, ttl_ms):
                self._lease_valid_until = asked + ttl_ms / 1000
            else:
                await self._act(self.machine.lease_lost(), "another instance holds the lease")
            return
        since_start = time.monotonic() - self._started
        if self.machine.may_claim(since_start, STARTUP_GRACE_LEASES * ttl_ms / 1000):
            epoch = await self.lease.claim(ttl_ms)
            if epoch is not None:
                self._lease_valid_until = asked + ttl_ms / 1000
                await self._act(self.machine.lease_won(epoch), "it claimed the free lease")
                return
        holder = await self.lease.holder()
        if holder is not None and holder != self.name:
            before = self.role
            await self._act(self.machine.lease_held_by_other(), f"{holder} serves the pair")
            if before is Role.STARTING:
                logger.info("%s: starting as backup of pair %s: %s is primary", self.name, self.pair, holder)
        else:
            self.machine.lease_free()

    async def fenced(self, pair_epoch: int) -> None:
        """A write was refused because the pair moved past our epoch: stop at once."""
        if self.machine.serving:
            await self._act(self.machine.lease_lost(), f"the pair is at epoch {pair_epoch}")

    async def _act(self, actions: list[Action], why: str) -> None:
        for action in actions:
            if action is Action.SERVE:
                logger.info("%s: primary of pair %s at epoch %d: %s", self.name, self.pair, self.epoch, why)
                for callback in self.on_serve:
                    await callback(self.epoch)
            elif action is Action.STOP_SERVING:
                logger.warning(
                    "%s: lost the primary role of pair %s at epoch %d (%s); now backup",
                    self.name, self.pair, self.epoch, why,
                )
                for callback in self.on_stop_serving:
                    await callback()

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
                logger.info(
                    "%s: options changed: %s", self.name,
                    ", ".join(f"{name}={fresh[name]}" for name in changed),
                )
                self.settings = fresh


_current: Instance | None = None


def install(instance: Instance) -> None:
    global _current
    _current = instance


def current() -> Instance | None:
    """This process's instance, or None outside ``runchatserver``."""
    return _current
