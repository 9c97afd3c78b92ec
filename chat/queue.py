"""Waiting chats and their assignment to available agents.

The pair's queue is a list in the live log (oldest first); chat.assignment
picks the agent. Each waiting customer is told its place when it moves.
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter

from ha.runtime import Instance

from . import assignment
from .frames import Out
from .livelog import Queue
from .messages import Messages
from .registry import Registry
from .session import ChatSession, Participant, Status

logger = logging.getLogger(__name__)


class ChatQueue:
    def __init__(self, instance: Instance, messages: Messages, registry: Registry) -> None:
        self.instance = instance
        self.messages = messages
        self.registry = registry
        self._routing = asyncio.Lock()

    async def route(self) -> None:
        """Give waiting chats, oldest first, to available agents while any has room;
        tell each chat still waiting its place in the queue when that changed."""
        sessions = self.messages.sessions
        if not any(session.status is Status.QUEUED for session in sessions.values()):
            # Nothing waits (the usual case when a thousand agents say ready after a
            # takeover): no lock, no Redis round trip, so the readies do not queue up
            # behind each other. Only chats QUEUED here are ever routed below.
            return
        async with self._routing:
            open_chats = Counter(s.agent.id for s in sessions.values() if s.is_open and s.agent is not None)
            waiting = [
                session for session_id in await self.messages.log.queue()
                if (session := sessions.get(session_id)) is not None and session.status is Status.QUEUED
            ]
            while waiting:
                loads = [
                    assignment.AgentLoad(presence.participant.id, open_chats[presence.participant.id],
                                         presence.ready_since)
                    for presence in self.registry.available_agents()
                ]
                chosen = assignment.pick_agent(loads, self.instance.settings["agent-capacity"])
                if chosen is None:
                    break
                await self._assign(waiting.pop(0), self.registry.agent(chosen).participant)
                open_chats[chosen] += 1
            for position, session in enumerate(waiting, start=1):
                async with self.messages.lock(session.id):
                    if session.status is Status.QUEUED and session.queue_position != position:
                        await self.messages.store(session, session.queued(position))

    async def _assign(self, session: ChatSession, agent: Participant) -> None:
        async with self.messages.lock(session.id):
            await self.messages.store(session, session.joined(agent), queue=Queue.REMOVE)
            history = await self.messages.log.events_after(session.id, 0)
            sockets = self.registry.attach_agent(session.id, agent)
            for socket in sockets:
                await self.registry.deliver(socket, [{
                    "type": str(Out.ASSIGNED),
                    "session_id": session.id,
                    "customer": session.customer.as_dict(),
                    "subject": session.subject,
                    "participant_id": agent.id,
                }, *history])
            if not sockets:
                # Every socket of the agent went away while the chat was given to it:
                # nobody will disconnect it, so it is marked now, and comes back or is
                # taken as having left after participant-return-timeout.
                event = session.disconnected(agent)
                if event is not None:
                    await self.messages.store(session, event)
        logger.info("session %s assigned to agent %s", session.id, agent.nickname)
