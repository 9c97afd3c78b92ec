"""The serving event loop's signs of life, as the lease keeper (ha.keeper) sees them.

A loop that has not run a timer for a while is either busy or stuck, and only
a stuck one should cost the primary its role. One turn of the loop runs every
callback that was ready when it began: at a takeover that can be two thousand
websocket handshakes, several seconds on a slow machine, with no timer run in
between. What tells the two apart is the loop's thread: a busy loop keeps it
on the CPU, a loop blocked in a call (a sleep, a lock, a synchronous query, a
debugger) does not. The rule that turns these signs into a lease is the role
machine's (``RoleMachine.renewal_grant``).
"""
from __future__ import annotations

import threading
import time

# The share of the time between two looks that the loop's thread must have
# spent on the CPU to count as working. A thread blocked in a call uses none;
# a busy one, all it gets beside the keeper's thread and the GIL.
WORKING_SHARE = 0.5


class LoopLife:
    def __init__(self, now: float) -> None:
        self.ticked_at = now  # the loop last ran its timer (serving loop's thread)
        self.working_at = now  # the loop's thread was last seen working (keeper's thread)
        self._cpu_clock: int | None = None
        self._looked_at = now
        self._cpu_then = 0.0

    def attach(self) -> None:
        """Watch the calling thread: the serving loop's. Where threads have no CPU
        clock of their own (not Linux or BSD), only the timer counts."""
        if hasattr(time, "pthread_getcpuclockid"):
            self._cpu_clock = time.pthread_getcpuclockid(threading.get_ident())
            self._cpu_then = time.clock_gettime(self._cpu_clock)

    def tick(self, now: float) -> None:
        self.ticked_at = now

    def look(self, now: float) -> float:
        """When the loop was last seen working, after a look at its thread's CPU time
        since the previous look (the keeper's thread, each primary round)."""
        if self._cpu_clock is None:
            return self.working_at
        try:
            cpu = time.clock_gettime(self._cpu_clock)
        except OSError:  # the thread is gone
            self._cpu_clock = None
            return self.working_at
        elapsed, worked = now - self._looked_at, cpu - self._cpu_then
        self._looked_at, self._cpu_then = now, cpu
        if elapsed > 0 and worked >= WORKING_SHARE * elapsed:
            self.working_at = now
        return self.working_at
