"""Waiting chats and their assignment to available agents.

Who waits and in which place is chat.waiting's (kept by chat.messages from
every session it folds); chat.assignment picks the agent. A routing costs
O(log n) a chat assigned, however deep the queue: nothing here reads the whole
queue or walks every session. A chat that starts waiting gets one stored
``queued`` notice (its place then); later places go out as ephemeral frames,
at most one a second a customer (``tell_places``).
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time

from ha.runtime import Instance

from . import assignment
from .finish import finish
from .livelog import Queue
from .messages import Messages
from .periodic import while_serving
from .registry import Registry
from .session import ChatError, ChatSession, Participant
from .wait_estimate import estimated_wait_s, new_chat_wait_s
from .waiting import POSITION_NOTICE_INTERVAL_S, PositionNotices, waits

logger = logging.getLogger(__name__)

# Places sent in one go before the loop takes other work (a drain of thousands).
PLACES_PER_TURN = 200


class ChatQueue:
    def __init__(self, instance: Instance, messages: Messages, registry: Registry) -> None:
        self.instance = instance
        self.messages = messages
        self.registry = registry
        self.places = PositionNotices()
        self.agents = assignment.AgentPicker()
        self._routing = asyncio.Lock()
        self._rate_told: float | None = None  # the answer rate of the estimates last told

    def new_chat_wait_s(self) -> int | None:
        """The estimated wait of a chat started now (chat.wait_estimate): 0 when it
        would be answered at once, None with no basis."""
        rate = self.messages.answers.per_second(time.monotonic())
        has_room = self._next_agent(self.instance.settings["agent-capacity"]) is not None
        return new_chat_wait_s(rate, len(self.messages.waiting), has_room)

    @property
    def routing(self) -> asyncio.Lock:
        """Held while chats are given to agents: a transfer holds it too, so no chat is
        routed to its target between the target's check and the transfer's store."""
        return self._routing

    def agent_changed(self, agent_id: str) -> None:
        """An agent came, went, or said whether it is available."""
        presence = self.registry.agent(agent_id)
        available = presence is not None and presence.available
        self.agents.update(agent_id, self.messages.loads[agent_id], presence.ready_since if available else None)

    def _next_agent(self, capacity: int, avoid: str | None = None) -> Participant | None:
        """The agent for the next waiting chat (chat.assignment's rule), if any has room;
        ``avoid`` only if nobody else has."""
        for agent_id in self.messages.loads.take_changed():
            self.agent_changed(agent_id)
        while (agent_id := self.agents.pick(capacity, avoid)) is not None:
            presence = self.registry.agent(agent_id)
            if presence is not None and presence.available:
                return presence.participant
            self.agent_changed(agent_id)  # gone without a word: forget it
        return None

    async def route(self) -> None:
        """Give waiting chats, first in line first, to available agents while any has
        room; store the first ``queued`` notice of each chat that began to wait. In a
        task of its own (chat.finish): the caller is whoever's frame made routing due
        (a customer's start, an agent's ready), and its cancellation must not leave the
        rest of the queue waiting."""
        await finish(self._route())

    async def _route(self) -> None:
        line = self.messages.waiting
        if not line and not line.arrivals:
            return  # nothing waits: the usual case when a thousand agents say ready
        async with self._routing:
            capacity = self.instance.settings["agent-capacity"]
            while (session_id := line.first()) is not None:
                session = self.messages.sessions.get(session_id)
                if session is None:  # not open here any more: nothing to give
                    line.leave(session_id)
                    continue
                # A chat its agent handed back goes to another agent when one has room.
                agent = self._next_agent(capacity, avoid=session.left_by)
                if agent is None:
                    break
                await self._assign(session, agent)
                if line.first() == session_id:
                    break  # it could not be given (and says why in the log): do not spin
            arrivals = line.take_arrivals()
        # Outside the routing lock, all at once: a surge's notices share round trips.
        # One that failed (Redis) is announced again on the next round (``run``).
        failures = await asyncio.gather(*(self._announce(session_id) for session_id in arrivals),
                                        return_exceptions=True)
        failed = [(sid, error) for sid, error in zip(arrivals, failures, strict=True) if error is not None]
        line.put_back_arrivals([sid for sid, _ in failed])
        for sid, error in failed:
            if isinstance(error, ChatError):
                raise error  # refused: the role is going, the caller hears it
            logger.warning("session %s: storing its queued notice failed (%r); trying again in a second", sid, error)

    async def _announce(self, session_id: str) -> None:
        """The one stored ``queued`` notice of a wait: when it began and the place then."""
        async with self.messages.lock(session_id):
            session = self.messages.sessions.get(session_id)
            position = self.messages.waiting.position(session_id)
            if session is None or position is None or session.queued_since is not None:
                return
            estimate = self.messages.estimated_wait_s(position)
            await self.messages.store(session, session.queued(position, estimate))
            self.places.told(session_id, position, time.monotonic(), estimate)

    async def run(self) -> None:
        """Once a second while serving: announce the arrivals a failed store left
        unannounced, tell waiting customers their new places."""
        await while_serving(self.instance, POSITION_NOTICE_INTERVAL_S, self._each_second,
                            "telling waiting customers their places")

    async def _each_second(self) -> None:
        if self.messages.waiting.arrivals:
            await self.route()
        await self.tell_places(time.monotonic())

    async def tell_places(self, now: float) -> None:
        """An ephemeral frame to each waiting customer whose place or estimated wait
        moved since it was last told (not within the last POSITION_NOTICE_INTERVAL_S)."""
        line = self.messages.waiting
        rate = self.messages.answers.per_second(time.monotonic())
        if rate != self._rate_told:
            line.changed = True  # every estimate may have moved, without a place moving
        if not line.changed:
            return
        line.changed = False
        self._rate_told = rate
        estimate = functools.partial(estimated_wait_s, rate)
        due, more = self.places.due(line, now, estimate)
        line.changed = line.changed or more
        for count, (session_id, position) in enumerate(due, start=1):
            session = self.messages.sessions.get(session_id)
            if session is not None and waits(session):
                wait_s = estimate(position)
                await self.registry.publish(session_id, session.place(position, wait_s))
                self.places.told(session_id, position, now, wait_s)
            if count % PLACES_PER_TURN == 0:
                await asyncio.sleep(0)

    async def _assign(self, session: ChatSession, agent: Participant) -> None:
        async with self.messages.lock(session.id):
            if not waits(session):
                return  # it left the queue (the customer left) while we waited for the lock
            await self.messages.store(session, session.joined(agent, time.time()), queue=Queue.REMOVE)
            await self.messages.hand_to(session, agent)
        logger.info("session %s assigned to agent %s", session.id, agent.nickname)
