"""When an append to the live log counts as safe: held by enough Redis replicas.

Under Sentinel a Redis master that dies takes with it what its replicas had not
copied yet. So the live log ends each batch of appends with WAIT: the events
are sent (and so acknowledged to their senders) only once ``replicas`` replicas
hold them, or ``wait_ms`` has passed. Past that wait the chat goes on rather
than stall behind a lagging or missing replica, but what was sent unreplicated
is counted (``chat_appends_unreplicated_total``) and logged: it is exactly what
a master failover at that moment could lose. After a wait that timed out, the
next ``DEGRADED_S`` seconds send without waiting (and count that too), so that
a dead replica costs each message ``wait_ms`` only once in a while.

Plain bookkeeping with the clock passed in; chat.livelog does the I/O.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

from chatsite import metrics

logger = logging.getLogger(__name__)

DEGRADED_S = 5.0


class ReplicaAcks:
    def __init__(self, replicas: int, wait_ms: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.replicas = replicas
        self.wait_ms = wait_ms
        self._clock = clock
        self._degraded_until = 0.0

    @property
    def on(self) -> bool:
        return self.replicas > 0

    def wait_now(self) -> bool:
        """Whether this batch waits for the replicas (not while degraded)."""
        return self.on and self._clock() >= self._degraded_until

    def acknowledged(self, acked: int, events: int) -> None:
        """A WAIT answered: ``acked`` replicas hold the batch of ``events`` events."""
        if acked >= self.replicas:
            if self._degraded_until:
                logger.info("Redis replicas acknowledge the live log's writes again")
                self._degraded_until = 0.0
            return
        self._degraded_until = self._clock() + DEGRADED_S
        metrics.APPENDS_UNREPLICATED.inc(events)
        logger.warning("only %d of %d Redis replicas held the live log's last %d events within %d ms: sent "
                       "anyway; for the next %.0f s events are sent without waiting (a Redis master failover "
                       "now could lose them)", acked, self.replicas, events, self.wait_ms, DEGRADED_S)

    def unwaited(self, events: int) -> None:
        """A batch sent without waiting while degraded."""
        if self.on:
            metrics.APPENDS_UNREPLICATED.inc(events)


NO_REPLICAS = ReplicaAcks(0, 0)
