"""Deadlines of a serving instance: chats nobody writes in, participants who
never came back. Checked every SWEEP_INTERVAL_S over every open session."""
from __future__ import annotations

import asyncio
import logging
import time

from ha.runtime import Instance

from .frames import CloseReason
from .messages import Messages
from .queue import ChatQueue
from .session import ChatError, Role

logger = logging.getLogger(__name__)

# How often the serving instance looks for participants who never came back.
SWEEP_INTERVAL_S = 1.0
# A participant a switchover handed to us follows the old primary's hint within
# a second; one not here after this long closed its page meanwhile, and is
# marked disconnected (then participant-return-timeout runs as after a drop).
SWITCHOVER_FOLLOW_S = 10.0


class Sweeper:
    def __init__(self, instance: Instance, messages: Messages, queue: ChatQueue) -> None:
        self.instance = instance
        self.messages = messages
        self.queue = queue

    async def run(self) -> None:
        """Sweep every SWEEP_INTERVAL_S while the process runs, whenever this instance serves."""
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            if not self.instance.serving:
                continue
            try:
                await self.sweep(time.time())
            except asyncio.CancelledError:
                raise
            except ChatError:
                continue  # fenced: the role is being given up
            except Exception:
                logger.exception("sweeping for gone participants failed")

    async def sweep(self, now: float) -> None:
        """Close chats idle past ``session-inactivity-timeout``; take participants away
        longer than ``participant-return-timeout`` as having left."""
        timeout = self.instance.settings["participant-return-timeout"]
        idle_after = self.instance.settings["session-inactivity-timeout"]
        freed = False
        for session in list(self.messages.sessions.values()):
            async with self.messages.lock(session.id):
                if session.idle(now, idle_after):
                    logger.info("session %s: nobody wrote for %d s: closing it", session.id, idle_after)
                    await self.messages.store(session, session.closing(CloseReason.INACTIVITY))
                    freed = True
                    continue
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
        if freed:
            await self.queue.route()
