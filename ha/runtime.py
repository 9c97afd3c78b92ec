"""This process's chat server instance: the role machine, its lease keeper, and
what a role change does on the serving event loop.

The lease is kept on a thread of its own (ha.keeper), so that a busy serving
loop never costs the role. The serving loop shows the keeper it is alive
every ``LOOP_TICK_S``; a renewal never lets the lease outlive that sign of
life by more than one TTL, so a loop stuck for longer than the lease loses
the role (ha.role holds that rule).

Why the timings are safe (defaults: lease 1500 ms, renewal every 500 ms,
watch every 100 ms): the primary counts its lease from the moment it *sent*
the renewal, so by its own clock the lease ends no later than Redis lets the
key expire; it stops serving at that moment even if Redis does not answer. A
backup claims only a lease Redis expired, or one whose holder's Redis
connection is gone (its process is dead: the kernel closed its sockets), so
the two never both serve for longer than a dead process can. The epoch fence
in the live log covers what clocks cannot: a primary paused past its lease
(SIGSTOP) that wakes up and writes is refused, because the pair's epoch moved on.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from typing import Protocol

import redis.asyncio as redis
from django.conf import settings

from chatsite import redisconf

from . import options
from .keeper import LeaseKeeper
from .liveness import LoopLife
from .models import Application
from .role import Action, Role, RoleMachine

logger = logging.getLogger("ha")

# How many lease rounds, each begun after a socket arrived, must find another
# member serving before a held socket is refused. One is no proof: Redis can
# answer a round's look at the holder's connection in the same turn of its loop
# in which it reads the close of a primary killed a moment before, and the dead
# primary still looks connected; the next round (ha-watch-interval-ms later)
# sees it gone. A socket refused that way had to knock again (a browser test
# caught it on a busy machine: a page's standby refused at a kill).
ROUNDS_BEFORE_REFUSING = 2


class RecentRounds:
    """The keeper's last rounds as the serving loop heard of them: whether a
    socket held since some moment is to be refused, another member serving."""

    def __init__(self) -> None:
        self._rounds: deque[tuple[float, bool]] = deque(maxlen=ROUNDS_BEFORE_REFUSING)

    def done(self, began: float, coming: bool) -> None:
        """A round begun at ``began`` found this instance serving or about to
        (``coming``), or not."""
        self._rounds.append((began, coming))

    def another_serves(self, since: float) -> bool:
        """Whether the last ROUNDS_BEFORE_REFUSING rounds all began after ``since``
        and all found this instance not about to serve."""
        return len(self._rounds) == self._rounds.maxlen and all(
            began > since and not coming for began, coming in self._rounds)

# Sockets of a busy instance share this many Redis connections and wait for a
# free one rather than fail; the lease keeper has a connection of its own, so
# that chat traffic never delays a renewal.
REDIS_CONNECTIONS = 64
REDIS_WAIT_S = 5
# Chat calls may take longer than lease rounds: a slow Redis is not yet a dead one.
REDIS_TIMEOUT_S = 5
# How often the serving loop tells the keeper it is alive: a renewal lets the
# lease run one TTL past this, so a finer tick loses less of a busy loop's lease.
LOOP_TICK_S = 0.05


class RoleListener(Protocol):
    """What the chat service does when the role changes (chat.takeover)."""

    async def serve(self, epoch: int, *, takeover: bool, previous: str) -> None: ...

    async def drain(self, new_primary: Application | None) -> None: ...

    async def stop_serving(self) -> None: ...


class Instance:
    def __init__(self, application: Application, settings_: options.Settings,
                 members: list[Application] | None = None) -> None:
        self.application = application
        self.name = application.name
        self.pair = application.pair
        self.settings = settings_
        # The members of the pair by name, for hints and hand-overs without a
        # database query on the way (refreshed with the options).
        self.members: dict[str, Application] = {app.name: app for app in members or [application]}
        self.machine = RoleMachine(
            application.name, application.pair, application.configured_role == Application.Role.PRIMARY
        )
        # The machine is fed by the keeper's thread and read by the serving loop.
        self.lock = threading.Lock()
        self.redis = _client(REDIS_CONNECTIONS, REDIS_TIMEOUT_S)
        self.listener: RoleListener | None = None
        self.loop_life = LoopLife(time.monotonic())  # the serving loop's signs of life
        self.holder: str | None = None  # who holds the lease, as last seen
        self.handing_to: Application | None = None  # during a switchover
        self.pair_epoch = 0  # as last seen
        self.keeper = LeaseKeeper(self)
        self._restoring: asyncio.Task | None = None
        self._rounds = RecentRounds()
        self._news: asyncio.Event | None = None

    @property
    def role(self) -> Role:
        return self.machine.role

    @property
    def epoch(self) -> int:
        return self.machine.epoch

    @property
    def write_epoch(self) -> int | None:
        """The epoch a write made now belongs to; None when this instance may not
        write (the live log's fence is still the last word)."""
        with self.lock:
            return self.machine.write_epoch(time.monotonic())

    @property
    def serving(self) -> bool:
        with self.lock:
            return self.machine.serving(time.monotonic())

    async def run(self) -> None:
        """The keeper's thread, the loop's sign of life, the options poll."""
        self.loop_life.attach()
        self.keeper.start(asyncio.get_running_loop())
        try:
            await asyncio.gather(self._show_life(), self._options_loop())
        finally:
            self.keeper.stop()

    async def _show_life(self) -> None:
        while True:
            self.loop_life.tick(time.monotonic())
            await asyncio.sleep(LOOP_TICK_S)

    # -- role changes, on the serving loop ------------------------------------

    async def act(self, actions: list[Action], why: str, *, previous: str = "",
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
        self._wake()

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
            await self._lose("it could not restore the sessions")
            return
        with self.lock:
            self.machine.restored(epoch)
        self._wake()

    async def write_refused(self, pair_epoch: int) -> None:
        """A write was refused because the pair is at ``pair_epoch``: stop at once if
        that is past our term."""
        with self.lock:
            actions = self.machine.write_refused(pair_epoch)
        await self.act(actions, f"the pair is at epoch {pair_epoch}")

    async def _lose(self, why: str) -> None:
        with self.lock:
            actions = self.machine.lease_lost()
        await self.act(actions, why)

    async def step_down(self, timeout_s: float) -> str | None:
        """A planned stop: hand the pair to a live backup, as ha_switchover does, and
        return its name once it was handed over; None when there was nothing to hand."""
        handing = asyncio.wrap_future(self.keeper.call(self.keeper.step_down()))
        return await asyncio.wait_for(handing, timeout_s)

    # -- what sockets wait for ------------------------------------------------

    def round_done(self, began: float, coming: bool, epoch: int) -> None:
        """The keeper finished a round begun at ``began`` (serving loop)."""
        self._rounds.done(began, coming)
        self.pair_epoch = max(self.pair_epoch, epoch, self.epoch)
        if not coming:
            # Only a round that found this instance not about to serve changes what a
            # held socket hears (refused); a takeover holds thousands of sockets, and
            # woke them all every round (ha-watch-interval-ms) until it served.
            self._wake()

    def _wake(self) -> None:
        if self._news is not None:
            self._news.set()
            self._news = None

    async def until_serving(self, arrived_at: float, patience_s: float) -> bool:
        """Whether this instance serves, waiting while it is about to (a takeover or
        a hand-over under way): instead of refusing the sockets of a reconnect storm
        to have them knock again, a member that is taking over holds them.

        False once lease rounds begun after ``arrived_at`` found another member
        serving (RecentRounds), or after ``patience_s``.
        """
        deadline = arrived_at + patience_s
        while not self.serving:
            left = deadline - time.monotonic()
            if self._rounds.another_serves(arrived_at) or left <= 0:
                return False
            if self._news is None:
                self._news = asyncio.Event()
            try:
                async with asyncio.timeout(left):  # no task per wait, as wait_for makes
                    await self._news.wait()
            except TimeoutError:
                return self.serving
        return True

    def primary_hint(self) -> str | None:
        """The ws address of the member that serves (or is about to), as a hint for
        a refused client; no I/O. None when not known: the client looks itself."""
        target = self.handing_to
        holder = target.name if target is not None else self.holder
        if holder is None or (holder == self.name and not self.serving):
            return None
        member = self.members.get(holder)
        return member.ws_url if member is not None else None

    # -- options --------------------------------------------------------------

    async def _options_loop(self) -> None:
        while True:
            await asyncio.sleep(settings.OPTIONS_POLL_SECONDS)
            try:
                fresh = await self.application.asettings()
                self.members = {app.name: app async for app in Application.objects.filter(pair=self.pair)}
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
    return redisconf.config().async_pooled_client(
        connections, REDIS_WAIT_S, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)


_current: Instance | None = None


def install(instance: Instance) -> None:
    global _current
    _current = instance


def current() -> Instance | None:
    """This process's instance, or None outside ``runchatserver``."""
    return _current
