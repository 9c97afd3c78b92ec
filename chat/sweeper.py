"""Deadlines of a serving instance: chats nobody writes in (the older
session-inactivity-timeout, and inactivity-control's alert then close), participants who
never came back, chats that waited in the queue past queue-timeout. Each second the
sweeper looks only at the sessions whose deadline came (chat.deadlines), not at every
open session."""
from __future__ import annotations

import logging
import time

from ha.runtime import Instance

from .deadlines import SWITCHOVER_FOLLOW_S, deadline_of, inactivity_of
from .frames import CloseReason, Notice
from .messages import Messages
from .periodic import while_serving
from .queue import ChatQueue
from .session import Role

logger = logging.getLogger(__name__)

# How often the serving instance looks for deadlines that came: how late one may be.
SWEEP_INTERVAL_S = 1.0
# The options the deadlines are worked out from: a change works them out again.
TIMEOUT_OPTIONS = ("session-inactivity-timeout", "participant-return-timeout", "inactivity-control-enabled",
                   "inactivity-timeout-alert", "inactivity-timeout-close", "inactivity-include-notices",
                   "queue-timeout")


class Sweeper:
    def __init__(self, instance: Instance, messages: Messages, queue: ChatQueue) -> None:
        self.instance = instance
        self.messages = messages
        self.queue = queue
        self._timeouts: tuple[int, ...] = ()

    async def run(self) -> None:
        """Sweep every SWEEP_INTERVAL_S while the process runs, whenever this instance serves."""
        await while_serving(self.instance, SWEEP_INTERVAL_S, lambda: self.sweep(time.time()),
                            "sweeping for deadlines")

    async def sweep(self, now: float) -> None:
        """Close chats idle past ``session-inactivity-timeout``; alert, then close, active
        chats quiet past inactivity-control's timeouts; take participants away
        longer than ``participant-return-timeout`` as having left."""
        settings = self.instance.settings
        timeouts = tuple(settings[name] for name in TIMEOUT_OPTIONS)
        if timeouts != self._timeouts:
            self._timeouts = timeouts
            self.messages.reschedule()
        idle_after, timeout = timeouts[:2]
        inactivity = inactivity_of(settings)
        freed = False
        for session_id in self.messages.deadlines.due(now):
            session = self.messages.sessions.get(session_id)
            if session is None:
                continue  # closed meanwhile
            async with self.messages.lock(session.id):
                if session.queue_timed_out(now, settings["queue-timeout"]):
                    # The offline path, not inactivity: the page offers to leave a message.
                    logger.info("session %s: nobody answered within queue-timeout (%d s): closing it",
                                session.id, settings["queue-timeout"])
                    await self.messages.store(session, session.closing(CloseReason.QUEUE_TIMEOUT))
                    continue
                if session.idle(now, idle_after):
                    logger.info("session %s: nobody wrote for %d s: closing it", session.id, idle_after)
                    await self.messages.store(session, session.closing(CloseReason.INACTIVITY))
                    freed = True
                    continue
                step = session.inactivity_due(now, inactivity)
                if step is Notice.INACTIVITY_CLOSE:
                    logger.info("session %s: inactive for %s s: closing it", session.id,
                                settings["inactivity-timeout-close"])
                    for event in session.inactivity_close(settings["inactivity-message-close"]):
                        await self.messages.store(session, event)
                    freed = True
                    continue
                if step is Notice.INACTIVITY_ALERT:
                    logger.info("session %s: inactive for %s s: alerting", session.id,
                                settings["inactivity-timeout-alert"])
                    await self.messages.store(session, session.inactivity_alert(settings["inactivity-message-alert"]))
                for who in session.not_followed(now, SWITCHOVER_FOLLOW_S):
                    logger.info("session %s: %s %s did not follow the switchover within %s s",
                                session.id, who.role, who.id, SWITCHOVER_FOLLOW_S)
                    event = session.disconnected(who)
                    if event is not None:
                        await self.messages.store(session, event)
                for who in session.gone(now, timeout):
                    if not session.is_open:
                        break
                    logger.info("session %s: %s %s did not come back within %s s",
                                session.id, who.role, who.id, timeout)
                    for event in session.leave(who):
                        await self.messages.store(session, event)
                    freed = freed or who.role is Role.AGENT
                # Its next deadline (a store above has set it already if it moved earlier).
                self.messages.deadlines.schedule(session.id, deadline_of(session, settings))
        if freed:
            await self.queue.route()
