"""What the chat side does when this instance's HA role changes (the role
listener that ha.runtime calls; it keeps the names it calls them by):

- ``serve``: this instance is now primary. It restores the pair's open sessions
  from the live log (``restore_sessions``) and serves once that returns.
- ``drain``: a switchover; every open session is told before the hand-over.
- ``stop_serving``: the role is gone. Every socket is closed with not-primary
  and nothing more is written: the next primary marks who was disconnected.
"""
from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from chatsite import metrics
from ha.models import Application
from ha.runtime import Instance

from .frames import CLOSE_NOT_PRIMARY, CloseReason, Event, Notice, Out
from .messages import Messages
from .registry import Registry
from .session import ChatSession

logger = logging.getLogger(__name__)


class RoleChanges:
    def __init__(self, instance: Instance, messages: Messages, registry: Registry) -> None:
        self.instance = instance
        self.messages = messages
        self.registry = registry

    # -- ha.runtime.RoleListener ----------------------------------------------

    async def serve(self, epoch: int, *, takeover: bool, previous: str) -> None:
        """Now primary at ``epoch``: the instance serves once this returns."""
        await self.restore_sessions(epoch, takeover=takeover, previous=previous)

    async def drain(self, new_primary: Application | None) -> None:
        """Before a switchover: finish what is in flight, tell every open session.

        No new frame is taken (the instance no longer serves); each session's lock
        is taken in turn, so a call in flight finishes first; then one batch stores
        the ``switchover`` notice in every open session, as a takeover's restore
        does: a thousand sessions cost a round trip, not a thousand.
        """
        started = time.monotonic()
        address = new_primary.ws_url if new_primary is not None else None
        async with contextlib.AsyncExitStack() as held:
            for session_id in sorted(self.messages.sessions):
                await held.enter_async_context(self.messages.lock(session_id))
            sessions = [session for session in self.messages.sessions.values() if session.is_open]
            notices = [
                (session, session.event(Event.NOTICE, notice=str(Notice.SWITCHOVER), primary=address))
                for session in sessions
            ]
            await self.messages.store_many(notices, "draining")
        logger.info("pair %s: told %d open sessions of the switchover to %s in %d ms", self.instance.pair,
                    len(notices), new_primary.name if new_primary else "?", (time.monotonic() - started) * 1000)

    async def stop_serving(self) -> None:
        """Close every socket with not-primary: after this, nothing is written."""
        sockets = self.registry.detach_all()
        self.messages.replace([], [])
        frame = {"type": str(Out.NOT_PRIMARY), "primary": self.instance.primary_hint()}
        await self.registry.close(sockets, frame, CLOSE_NOT_PRIMARY)

    # -- the takeover ---------------------------------------------------------

    async def restore_sessions(self, epoch: int, *, takeover: bool, previous: str) -> None:
        """Take over the pair's open sessions from the live log before taking clients.

        After a takeover, ``session-restoration-mode`` decides: ``simple`` restores
        them (each participant that was connected is marked disconnected until it
        resumes), ``none`` closes them. After a switchover they always carry on, and
        nobody is marked disconnected unless they fail to follow (chat.sweeper).
        Every transcript save still owed is made due to the sweeper at once
        (transcripts.sweeper). The same few round trips however many sessions there
        are: the open set,
        every open session's facts and log, what the takeover stores in each, the
        queue's order.
        """
        started = time.monotonic()
        self.messages.replace([], [])
        restore = not takeover or self.instance.settings["session-restoration-mode"] == "simple"
        log = self.messages.log
        # What the last term left owed to the transcript store is due at once: its
        # hand-offs may never have reached the broker (issue 10). Before this term
        # writes anything, so that its own saves wait their time.
        await log.every_save_due_now()
        open_ids = sorted(await log.open_sessions())
        sessions = [
            ChatSession.rebuild(session_id, facts, events)
            for session_id, (facts, events) in zip(open_ids, await log.sessions(open_ids), strict=True)
            if facts
        ]
        sessions = [session for session in sessions if session.is_open]
        if not takeover:
            handed_at = time.time()
            for session in sessions:
                session.handed_over(handed_at)
        said = [(session, event) for session in sessions for event in self._takeover_events(session, takeover, restore)]
        # No session lock: this instance does not serve yet, so no socket is attached
        # and no call runs; and the sessions are not in Messages.sessions before they
        # are folded, so nothing else (a transcript report) writes to them meanwhile.
        await self.messages.store_many(said, "restoring")
        self.messages.replace(sessions, await log.ranked_queue())  # holds and indexes them
        metrics.TAKEOVERS.labels("takeover" if takeover else "switchover").inc()
        metrics.RESTORE_SECONDS.observe(time.monotonic() - started)
        metrics.SESSIONS_RESTORED.inc(len(sessions))
        logger.info(
            "%s pair %s at epoch %d: %s %d sessions from the live log%s in %d ms",
            "took over" if takeover else "switched over to us:", self.instance.pair, epoch,
            "restored" if restore else "closed (session-restoration-mode none)", len(sessions),
            f" of {previous}" if previous else "", (time.monotonic() - started) * 1000,
        )
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("pair %s at epoch %d: the sessions: %s", self.instance.pair, epoch,
                         ", ".join(session.id for session in sessions) or "none")

    @staticmethod
    def _takeover_events(session: ChatSession, takeover: bool, restore: bool) -> list[dict[str, Any]]:
        """What a takeover stores in an open session: who was connected is now
        disconnected (``restore``), or the session is closed. A switchover stores
        nothing: its participants follow the hint (ChatSession.handed_over)."""
        if not takeover:
            return []
        if not restore:
            return [session.closing(CloseReason.NOT_RESTORED)]
        everyone = (session.customer, session.agent, *session.supervisors.values())
        events = [session.disconnected(who) for who in everyone if who is not None]
        return [event for event in events if event is not None]
