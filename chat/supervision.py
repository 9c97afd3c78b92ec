"""Supervisors (issue 13): every open chat of the pair, monitored silently,
coached, barged into.

A supervisor's socket (``/ws/supervisor/``) is told the pair's open chats
(``chats``) when it connects and again whenever the list changed, at most once
a second. ``monitor`` makes it follow one chat: a ``monitoring`` frame, then
every event so far (internal ones included), then each new one as it is
stored. Nothing is stored for that: neither the customer nor the agent is told
that someone watches (as Genesys, the agent desktop shows no hint either).

What a supervisor writes goes through the live log as every message does
(stored before sent, one seq each): a message with ``visibility: internal``
(the default for a supervisor: coaching) reaches agents and supervisors only;
``barge-in`` stores a visible ``joined``, after which the supervisor may also
write to everyone, and ``leave`` a visible ``left``.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from ha.runtime import Instance

from .frames import ErrorCode, Out, Visibility
from .messages import Messages
from .periodic import while_serving
from .registry import Registry, Socket
from .session import ChatError, ChatSession, Participant, Role

logger = logging.getLogger(__name__)

# How often supervisors are sent the list of open chats when it changed: the
# queue tells waiting customers their places at the same pace.
CHATS_LIST_INTERVAL_S = 1.0
# The most chats one list shows: a page listing tens of thousands helps nobody,
# and the frame stays well under a socket's unsent-bytes limit.
CHATS_LIST_MAX = 2000


def chat_row(session: ChatSession) -> dict[str, Any]:
    """What the supervisor page shows of one open chat."""
    return {
        "session_id": session.id,
        "status": str(session.status),
        "subject": session.subject,
        "started_at": session.started_at,
        "customer": session.customer.nickname,
        "agent": session.agent.nickname if session.agent is not None else None,
        "supervisors": sorted(who.nickname for who in session.supervisors.values()),
        "last_seq": session.last_seq,
    }


class Supervision:
    def __init__(self, instance: Instance, messages: Messages, registry: Registry) -> None:
        self.instance = instance
        self.messages = messages
        self.registry = registry
        self._last_list: str | None = None

    # -- the list of open chats ------------------------------------------------

    def chats_frame(self) -> str:
        sessions = sorted(self.messages.sessions.values(), key=lambda s: s.started_at)[:CHATS_LIST_MAX]
        return json.dumps({"type": str(Out.CHATS), "chats": [chat_row(s) for s in sessions],
                           "open": len(self.messages.sessions)})

    async def connected(self, socket: Socket, supervisor: Participant) -> None:
        self.registry.supervisor_connected(socket, supervisor)
        logger.info("supervisor %s connected", supervisor.id)
        await socket.send_text(self.chats_frame())

    async def tell_chats(self) -> None:
        """The list to every supervisor, if it changed since it was last sent."""
        sockets = self.registry.supervisor_sockets()
        if not sockets:
            self._last_list = None
            return
        text = self.chats_frame()
        if text == self._last_list:
            return
        self._last_list = text
        for socket in sockets:
            try:
                await socket.send_text(text)
            except Exception:
                logger.debug("supervisor socket %r went away", socket, exc_info=True)

    async def run(self) -> None:
        await while_serving(self.instance, CHATS_LIST_INTERVAL_S, self.tell_chats, "telling supervisors the chats")

    # -- one chat --------------------------------------------------------------

    async def monitor(self, socket: Socket, session_id: str, last_seq: int) -> None:
        """Follow the session silently: its events after ``last_seq``, then each new one."""
        supervisor = self._supervisor(socket)
        session = self.messages.sessions.get(session_id)
        if session is None:
            raise ChatError(ErrorCode.SESSION_CLOSED, f"session {session_id} is not open", session_id)
        async with self.messages.lock(session_id):
            page = await self.messages.log.events_after(session_id, last_seq)
            if not self.registry.attach(session_id, socket, supervisor):
                return
            monitoring = {
                "type": str(Out.MONITORING),
                "session_id": session_id,
                "customer": session.customer.as_dict(),
                "agent": session.agent.as_dict() if session.agent is not None else None,
                "subject": session.subject,
                "participant_id": supervisor.id,
                "joined": supervisor.id in session.supervisors,
                "last_seq": session.last_seq,
            }
            if not await self.messages.replay(socket, session_id, [monitoring], page):
                return
            logger.info("session %s: supervisor %s monitors it (after seq %d)", session_id, supervisor.id, last_seq)
            # One who barged in and dropped (a failover) is back: as any participant.
            if supervisor.id in session.supervisors:
                session.arrived(supervisor)
                event = session.reconnected(supervisor)
                if event is not None:
                    await self.messages.store(session, event)

    async def unmonitor(self, socket: Socket, session_id: str) -> None:
        """Stop following the session; one who barged in leaves it first (visibly)."""
        session, supervisor = self._monitored(socket, session_id)
        async with self.messages.lock(session_id):
            if supervisor.id in session.supervisors and session.is_open:
                for event in session.leave(supervisor):
                    await self.messages.store(session, event)
            self.registry.unfollow(session_id, socket)
        logger.info("session %s: supervisor %s stopped monitoring it", session_id, supervisor.id)
        await self.registry.deliver(socket, [{"type": str(Out.UNMONITORED), "session_id": session_id}])

    async def barge_in(self, socket: Socket, session_id: str) -> None:
        """Join visibly: a ``joined`` everyone sees, the customer included."""
        session, supervisor = self._monitored(socket, session_id)
        async with self.messages.lock(session_id):
            await self.messages.store(session, session.barge_in(supervisor))
        logger.info("session %s: supervisor %s barged in", session_id, supervisor.id)

    async def message(self, socket: Socket, session_id: str, text: str, client_id: str,
                      visibility: Visibility) -> None:
        """Coach (internal) or, after a barge-in, write to everyone."""
        self._monitored(socket, session_id)
        await self.messages.staff_message(socket, session_id, text, client_id, visibility)

    async def leave(self, socket: Socket, session_id: str) -> None:
        """One who barged in leaves (a visible ``left``) and goes on monitoring."""
        session, supervisor = self._monitored(socket, session_id)
        async with self.messages.lock(session_id):
            for event in session.leave(supervisor):
                await self.messages.store(session, event)

    # -- internals -------------------------------------------------------------

    def _supervisor(self, socket: Socket) -> Participant:
        who = self.registry.participant(socket)
        if who is None or who.role is not Role.SUPERVISOR:
            raise ChatError(ErrorCode.NOT_YOURS, "only a supervisor monitors chats")
        return who

    def _monitored(self, socket: Socket, session_id: str) -> tuple[ChatSession, Participant]:
        supervisor = self._supervisor(socket)
        if session_id not in self.registry.sessions(socket):
            raise ChatError(ErrorCode.NOT_YOURS, f"monitor session {session_id} first", session_id)
        session = self.messages.sessions.get(session_id)
        if session is None:
            raise ChatError(ErrorCode.SESSION_CLOSED, f"session {session_id} is closed", session_id)
        return session, supervisor

