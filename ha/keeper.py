"""The lease keeper: the pair's lease, kept on a thread and event loop of its own.

Chat work (a reconnect storm, a restoration of a thousand sessions) can keep
the serving event loop busy for hundreds of milliseconds. The lease must not
depend on it, so the keeper runs its rounds on its own thread, with its own
Redis connection, and reports to the role machine (ha.role) under the
instance's lock. What the machine answers (serve, drain, stop) runs on the
serving loop, where the chat service lives.

A primary's round, every ``ha-renew-interval-ms``: heartbeat, renew (with
what the machine grants: never past one TTL after the serving loop was last
seen alive), and read a switchover request, in one script. A backup's round,
every ``ha-watch-interval-ms``: heartbeat, look at the lease (adopting it if
a switchover handed it over), then claim a free lease or take it from a
holder whose Redis connection is gone.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import redis.asyncio as redis
from django.conf import settings
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from chatsite import metrics, redisconf

from .lease import Lease
from .role import Action, Role

if TYPE_CHECKING:
    from .models import Application
    from .runtime import Instance

logger = logging.getLogger("ha")

# A Redis that stops answering (a partition, not a refused connection) must end
# a round with an error well within the lease, so that the primary gives up its
# sockets on time.
LEASE_REDIS_TIMEOUT_S = 0.5
# The longest a new term waits for a Redis replica to hold its epoch
# (LeaseKeeper._replicated): less than the keeper's socket time-out (chatsite.redisconf).
EPOCH_WAIT_MS = 200
# A configured backup that starts with no primary around waits this many lease
# lengths before claiming, so that a pair started together ends up as configured.
STARTUP_GRACE_LEASES = 2
# The heartbeat key lives this many lease lengths: ha_status and a planned stop
# read it to tell a live member from a dead one.
ALIVE_LEASES = 1


def _lease_client() -> redis.Redis:
    """One connection, never retried behind our back: its id is what the backup
    watches, so a new connection must go through ``connection_id`` again."""
    return redisconf.config().async_client(
        single_connection=True, retry=Retry(NoBackoff(), 0),
        socket_timeout=LEASE_REDIS_TIMEOUT_S, socket_connect_timeout=LEASE_REDIS_TIMEOUT_S,
    )


class LeaseKeeper:
    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.machine = instance.machine
        self.name = instance.name
        self._serving_loop: asyncio.AbstractEventLoop | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task | None = None
        self._started = time.monotonic()
        self._connection_id: str | None = None
        self._client: redis.Redis | None = None  # the keeper's one connection, made on its thread
        self._switching: asyncio.Task | None = None
        self._failing = False  # Redis failed the last round: log the streak once
        self._fast_detection = True

    # -- the thread -----------------------------------------------------------

    def start(self, serving_loop: asyncio.AbstractEventLoop) -> None:
        self._serving_loop = serving_loop
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name=f"lease-keeper-{self.name}",
                                        daemon=True)
        self._thread.start()
        ready.wait()

    def _run(self, ready: threading.Event) -> None:
        self.loop = asyncio.new_event_loop()
        self._task = self.loop.create_task(self._rounds())
        ready.set()
        try:
            self.loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            self.loop.close()

    def stop(self) -> None:
        """End the rounds (tests; a process simply exits)."""
        if self.loop is not None and self._task is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._task.cancel)
        if self._thread is not None:
            self._thread.join(5)

    def call(self, coroutine: Coroutine[Any, Any, Any]) -> Future[Any]:
        """Run ``coroutine`` on the keeper's loop (from the serving loop)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    # -- rounds ---------------------------------------------------------------

    async def _rounds(self) -> None:
        client = self._client = _lease_client()
        self.lease = Lease(client, self.instance.pair, self.name)
        try:
            await self._go_round()
        finally:
            await client.aclose()

    async def _go_round(self) -> None:
        while not (self.machine.leaving and not self.machine.holds_lease):
            began = time.monotonic()
            try:
                await self._round(began)
                if self._failing:
                    logger.info("%s: Redis answers the lease keeper again", self.name)
                    self._failing = False
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._connection_id = None
                if not self._failing:
                    logger.warning("%s: lease round failed (role %s, epoch %d): %r",
                                   self.name, self.machine.role, self.machine.epoch, error)
                    self._failing = True
                self._decide(lambda: self.machine.clock(time.monotonic()),
                             "its lease ran out while Redis did not answer")
            settings_ = self.instance.settings
            interval_ms = settings_["ha-renew-interval-ms"] if self.machine.holds_lease \
                else settings_["ha-watch-interval-ms"]
            await asyncio.sleep(max(began + interval_ms / 1000 - time.monotonic(), 0))
        # Stopping: not alive any more, so that nobody hands the pair to us.
        await self.lease.gone()

    async def _round(self, asked: float) -> None:
        settings_ = self.instance.settings
        ttl_s = settings_["ha-lease-ttl-ms"] / 1000
        alive_ms = settings_["ha-lease-ttl-ms"] * ALIVE_LEASES
        with self.instance.lock:
            holds, epoch = self.machine.holds_lease, self.machine.epoch
            life = self.instance.loop_life
            grant_s = self.machine.renewal_grant(asked, life.ticked_at, life.look(asked), ttl_s)
        if holds:
            await self._keep(asked, epoch, grant_s, alive_ms)
            self._report_round(asked, True, self.machine.epoch)
        else:
            await self._watch(asked, ttl_s, grant_s, alive_ms)

    async def _keep(self, asked: float, epoch: int, grant_s: float, alive_ms: int) -> None:
        """The primary's round: renew, unless the serving loop has been stuck for a lease."""
        grant_ms = int(grant_s * 1000)
        if grant_ms <= 0:
            self._decide(lambda: self.machine.clock(time.monotonic()),
                         "its event loop has not run for a whole lease")
            return
        if self._connection_id is None:
            self._connection_id = await self.lease.connection_id()
        asked_at = time.monotonic()
        renewal = await self.lease.renew(epoch, grant_ms, self._connection_id, alive_ms)
        metrics.LEASE_RENEWAL_SECONDS.observe(time.monotonic() - asked_at)
        if not renewal.renewed:
            self._decide(self.machine.lease_lost, "another instance holds the lease")
            return
        with self.instance.lock:
            self.machine.renewed(asked, grant_ms / 1000)
            self.instance.holder = self.name
        target = renewal.switchover_target
        if target is not None and self._switching is None:
            await self.lease.clear_switchover()
            member = self.instance.members.get(target)
            if target == self.name:
                logger.info("%s: switchover to %s asked: it serves already", self.name, target)
            elif member is None:
                logger.warning("%s: switchover to %s refused: not a member of pair %s",
                               self.name, target, self.instance.pair)
            else:
                self._switching = asyncio.ensure_future(self.switch_over(member, "an operator asked"))

    async def _watch(self, asked: float, ttl_s: float, grant_s: float, alive_ms: int) -> None:
        """The backup's round: adopt a lease handed to us, claim a free one, or take
        it from a holder whose connection is gone."""
        grant_ms = int(min(grant_s, ttl_s) * 1000)
        sight = await self.lease.watch(max(grant_ms, 1), alive_ms)
        coming = False
        if sight.adopted:
            await self._replicated("the lease handed to us")
            coming = self._decide(lambda: self.machine.lease_handed_to_us(sight.epoch, asked, grant_ms / 1000),
                                  "the primary handed over (switchover)")
        elif sight.holder is None or sight.holder == self.name:
            # Free, or held by an earlier life of ours: claim it once it is free.
            may = grant_ms > 0 and self.machine.may_claim(
                time.monotonic() - self._started, STARTUP_GRACE_LEASES * ttl_s)
            claimed = await self.lease.claim(grant_ms) if may and sight.holder is None else None
            if claimed is not None:
                epoch, previous = claimed
                await self._replicated(f"the claim at epoch {epoch}")
                why = f"took over from {previous}, whose lease lapsed" if previous else "first primary of the pair"
                coming = self._decide(lambda: self.machine.lease_won(epoch, asked, grant_ms / 1000), why,
                                      previous=previous)
            else:
                with self.instance.lock:
                    self.machine.lease_free()
                coming = may
        else:
            connected = True
            if sight.holder_connection is not None and self._fast_detection and grant_ms > 0:
                connected = await self.lease.connected(sight.holder_connection)
            with self.instance.lock:
                take = self.machine.may_take_over_from(sight.holder, connected)
            epoch = await self.lease.take_over(sight.holder, sight.holder_connection, grant_ms) if take else None
            if epoch is not None:
                await self._replicated(f"the take-over at epoch {epoch}")
                coming = self._decide(lambda: self.machine.lease_won(epoch, asked, grant_ms / 1000),
                                      f"took over from {sight.holder}, whose connection to Redis is gone",
                                      previous=sight.holder)
            else:
                if self.machine.role is Role.STARTING:
                    logger.info("%s: backup of pair %s at epoch %d: %s is primary",
                                self.name, self.instance.pair, sight.epoch, sight.holder)
                self._decide(self.machine.lease_held_by_other, f"{sight.holder} serves the pair")
        with self.instance.lock:
            if not self.machine.holds_lease:
                self.instance.holder = sight.holder if sight.holder != self.name else None
        self._report_round(asked, coming or self.machine.holds_lease, sight.epoch)

    async def _replicated(self, what: str) -> None:
        """A new term begins once a Redis replica holds its epoch (WAIT on the
        keeper's own connection, which made the claim): a Redis master that dies
        right after cannot take the increment with it, so the next claim never
        reuses the epoch of a term that served. Past REDIS_ACK_WAIT_MS the term
        begins anyway (a lagging or missing replica must not leave the pair with
        no primary), counted and logged. At most EPOCH_WAIT_MS: well within the
        keeper's own socket time-out, or the wait would fail the round."""
        replicas = settings.REDIS_ACK_REPLICAS
        if not replicas:
            return
        assert self._client is not None
        wait_ms = min(settings.REDIS_ACK_WAIT_MS, EPOCH_WAIT_MS)
        acked = await self._client.execute_command("WAIT", replicas, wait_ms)
        if acked < replicas:
            metrics.EPOCHS_UNREPLICATED.inc()
            logger.warning("%s: only %d of %d Redis replicas held %s within %d ms: serving anyway (a Redis "
                           "master failover now could take the epoch back)", self.name, acked, replicas, what,
                           wait_ms)

    # -- hand-over ------------------------------------------------------------

    async def switch_over(self, target: Application, why: str) -> bool:
        """Drain, hand the lease to ``target`` at a new epoch, stop serving; renewals
        go on meanwhile (this runs beside the rounds). True once handed over."""
        try:
            with self.instance.lock:
                actions = self.machine.switchover_asked()
                epoch = self.machine.epoch
                self.instance.handing_to = target
            if not actions:
                return False
            logger.info("%s: switching pair %s over to %s (%s)", self.name, self.instance.pair, target.name, why)
            try:
                await asyncio.wrap_future(self._serve(actions, why, new_primary=target))
            except Exception:
                # The notices are a courtesy: the sockets still get not-primary naming
                # the new primary, so the hand-over goes on.
                logger.exception("%s: telling the sessions of the switchover failed", self.name)
            ttl_ms = self.instance.settings["ha-lease-ttl-ms"]
            try:
                new_epoch = await self.lease.hand_over(epoch, target.name, ttl_ms)
            except Exception:
                # Never stay handing over: give the role up, and let the lease lapse to
                # the backup, which takes over as after a failure.
                logger.exception("%s: handing the lease to %s failed", self.name, target.name)
                self._decide(self.machine.lease_lost, "the hand-over failed")
                return False
            why = f"handed the lease to {target.name} at epoch {new_epoch}" if new_epoch \
                else "the lease was no longer ours"
            with self.instance.lock:
                actions = self.machine.handed_over()
                self.instance.holder = target.name if new_epoch else None
            await asyncio.wrap_future(self._serve(actions, why))
            return new_epoch is not None
        finally:
            self.instance.handing_to = None
            self._switching = None

    async def step_down(self) -> str | None:
        """A planned stop: hand the pair to a live member, as ha_switchover does; its
        name, or None when this instance does not serve or nobody could take over."""
        with self.instance.lock:
            self.machine.leave()
        await self.lease.gone()
        if self._switching is not None:
            await self._switching
            return self.instance.holder
        if not self.machine.holds_lease:
            return None
        for name, member in self.instance.members.items():
            if name != self.name and await self.lease.alive(name):
                self._switching = asyncio.ensure_future(self.switch_over(member, "this instance is stopping"))
                return name if await self._switching else None
        return None

    # -- to the serving loop --------------------------------------------------

    def _decide(self, event: Callable[[], list[Action]], why: str, *, previous: str = "") -> bool:
        """Feed ``event`` to the machine under the lock and hand its actions to the
        serving loop; whether it made us primary."""
        with self.instance.lock:
            actions = event()
        if actions:
            self._serve(actions, why, previous=previous)
        return any(a in (Action.RESTORE_AND_SERVE, Action.RESUME_AND_SERVE) for a in actions)

    def _serve(self, actions: list[Action], why: str, **context: Any) -> Future[None]:
        assert self._serving_loop is not None
        done = asyncio.run_coroutine_threadsafe(self.instance.act(actions, why, **context), self._serving_loop)
        done.add_done_callback(_log_failure)
        return done

    def _report_round(self, began: float, coming: bool, epoch: int) -> None:
        assert self._serving_loop is not None
        self._serving_loop.call_soon_threadsafe(self.instance.round_done, began, coming, epoch)


def _log_failure(done: Future[None]) -> None:
    if not done.cancelled() and done.exception() is not None:
        logger.error("acting on a role change failed", exc_info=done.exception())
