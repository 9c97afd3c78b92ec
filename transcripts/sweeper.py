"""The sweeper of owed transcript saves, on the serving primary (issue 10).

Every SWEEP_INTERVAL_S the serving instance asks the due-save record
(chat.livelog) for the saves that stayed owed past their time and hands each to
the broker again, then waits longer before the next try (transcripts.due). A
takeover (chat.takeover) makes every save owed before it due at once: what the
last primary handed may never have reached the broker.

Why here and not on Celery beat: the primary already runs a loop each second
(chat.periodic), owns the pair's live log and its epoch, and knows the options
in force (which notices a transcript keeps); beat would be one more process to
run, keep single and configure per pair.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from chat.livelog import LiveLog
from chat.periodic import while_serving
from ha.runtime import Instance

from . import due

logger = logging.getLogger(__name__)

# How often the serving instance looks for owed saves that came due.
SWEEP_INTERVAL_S = 1.0
# The most saves one sweep hands to the broker (the rest come a second later).
SWEEP_LIMIT = 500

HandOff = Callable[[list[tuple[str, float]]], None]


class SaveSweeper:
    def __init__(self, instance: Instance, log: LiveLog, hand_off: HandOff) -> None:
        """``hand_off`` sends the sweeper's saves: (session id, seconds the task may
        wait in the broker before it is pointless, as the next hand-off comes)."""
        self.instance = instance
        self.log = log
        self.hand_off = hand_off

    async def run(self) -> None:
        """Sweep every SWEEP_INTERVAL_S while the process runs, whenever this instance serves."""
        await while_serving(self.instance, SWEEP_INTERVAL_S, self.sweep, "sweeping for owed transcript saves")

    async def sweep(self) -> list[due.Resend]:
        """Hand every owed save that came due to the broker again; what was handed."""
        now, owed = await self.log.due_saves(SWEEP_LIMIT)
        resends = due.plan(now, owed)
        if not resends:
            return resends
        # Rescheduled first: a hand-off that fails is tried again at the next time.
        await self.log.reschedule_saves({r.session_id: now + r.wait for r in resends})
        for resend in resends:
            if resend.stuck:
                logger.warning("session %s: its transcript has been owed a save up to seq %d for %d s and is "
                               "still not saved; its live log is kept until it is (next try in %d s)",
                               resend.session_id, resend.upto, resend.owed_for, resend.wait)
        logger.info("pair %s: handing %d owed transcript saves to the broker again: %s", self.instance.pair,
                    len(resends), ", ".join(f"{r.session_id} (up to seq {r.upto}, owed {r.owed_for:.1f} s)"
                                            for r in resends[:10]) + (" ..." if len(resends) > 10 else ""))
        self.hand_off([(r.session_id, r.wait) for r in resends])
        return resends
