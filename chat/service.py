"""The message path, top to bottom: a frame's call in, checks, the event stored
in the live log, the event out to every follower of the session.

One ChatService runs in a serving instance. It keeps the open sessions in
memory (rebuilt from the live log when the instance starts to serve), takes a
per-session lock around check + store + publish so that each connection sees
events in seq order, and routes waiting chats to agents.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ha.models import Application
from ha.runtime import Instance
from ha.topology import primary_ws_url

from . import assignment
from .frames import CLOSE_NOT_PRIMARY, CloseReason, ErrorCode, Event, Notice, Out
from .hub import Hub
from .livelog import Fenced, LiveLog, OpenSet, Queue, Stored
from .session import ChatError, ChatSession, Participant, Role, Status

logger = logging.getLogger(__name__)

# How often the serving instance looks for participants who never came back.
SWEEP_INTERVAL_S = 1.0


class Connection(Protocol):
    """What the service needs of a websocket consumer."""

    participant: Participant | None
    sessions: set[str]

    async def deliver(self, frame: dict[str, Any]) -> None: ...

    async def send_text(self, text: str) -> None: ...

    async def drop(self, frame: dict[str, Any], code: int) -> None: ...


@dataclass
class AgentPresence:
    participant: Participant
    connections: set[Connection] = field(default_factory=set)
    available: bool = False
    ready_since: float = 0.0


class ChatService:
    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.log = LiveLog(instance.redis, instance.pair)
        self.hub = Hub()
        self.sessions: dict[str, ChatSession] = {}
        self.agents: dict[str, AgentPresence] = {}
        self.connections: set[Connection] = set()
        # One lock per session while anyone holds or waits for it: weak values,
        # so the locks of closed sessions do not pile up.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._routing = asyncio.Lock()
        # Called after each event is stored and sent, under the session's lock
        # (transcripts.live uses it to schedule saves): keep them quick.
        self.stored_hooks: list[Callable[[ChatSession, dict[str, Any]], Awaitable[None]]] = []
        instance.listener = self

    # -- role changes (ha.runtime.RoleListener) -------------------------------

    async def serve(self, epoch: int, *, takeover: bool, previous: str) -> None:
        """Take over the pair's open sessions from the live log before taking clients.

        After a takeover, ``session-restoration-mode`` decides: ``simple`` restores
        them (each participant that was connected is marked disconnected until it
        resumes), ``none`` closes them. After a switchover they always carry on.
        """
        started = time.monotonic()
        self.sessions, self.agents = {}, {}
        restore = not takeover or self.instance.settings["session-restoration-mode"] == "simple"
        handled: list[str] = []
        open_ids = sorted(await self.log.open_sessions())
        for session_id, (facts, events) in zip(open_ids, await self.log.sessions(open_ids), strict=True):
            session = self._rebuild(session_id, facts, events)
            if session is None or not session.is_open:
                continue
            async with self._lock(session_id):
                if restore:
                    for who in (session.customer, session.agent):
                        event = session.disconnected(who) if who is not None else None
                        if event is not None:
                            await self._store(session, event)
                else:
                    event = session.closing(CloseReason.NOT_RESTORED)
                    await self._store(session, event, **self._bookkeeping(event))
            handled.append(session_id)
        logger.info(
            "%s pair %s at epoch %d: %s %d sessions from the live log%s in %d ms: %s",
            "took over" if takeover else "switched over to us:", self.instance.pair, epoch,
            "restored" if restore else "closed (session-restoration-mode none)", len(handled),
            f" of {previous}" if previous else "", (time.monotonic() - started) * 1000,
            ", ".join(handled) or "none",
        )

    async def drain(self, new_primary: Application | None) -> None:
        """Before a switchover: finish what is in flight, tell every open session."""
        address = new_primary.ws_url if new_primary is not None else None
        for session_id in sorted(self.sessions):
            async with self._lock(session_id):
                session = self.sessions.get(session_id)
                if session is not None and session.is_open:
                    await self._store(session, session.event(
                        Event.NOTICE, notice=str(Notice.SWITCHOVER), primary=address
                    ))

    async def stop_serving(self) -> None:
        """Close every socket with not-primary: after this, nothing is written."""
        connections, self.connections = self.connections, set()
        self.sessions, self.agents, self.hub = {}, {}, Hub()
        frame = {"type": str(Out.NOT_PRIMARY), "primary": await primary_ws_url(self.instance)}
        for connection in connections:
            try:
                await connection.drop(frame, CLOSE_NOT_PRIMARY)
            except Exception:
                logger.debug("socket %r was gone already", connection, exc_info=True)

    async def run(self) -> None:
        """Background work of a serving instance: idle chats, participants who never came back."""
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
        for session in list(self.sessions.values()):
            async with self._lock(session.id):
                if session.idle(now, idle_after):
                    logger.info("session %s: nobody wrote for %d s: closing it", session.id, idle_after)
                    event = session.closing(CloseReason.INACTIVITY)
                    await self._store(session, event, **self._bookkeeping(event))
                    freed = True
                    continue
                for who in session.gone(now, timeout):
                    if not session.is_open:
                        break
                    logger.info("session %s: %s %s did not come back within %s s",
                                session.id, who.role, who.id, timeout)
                    for event in session.leave(who):
                        await self._store(session, event, **self._bookkeeping(event))
                    freed = freed or who.role is Role.AGENT
        if freed:
            await self.route()

    # -- connections ----------------------------------------------------------

    def connected(self, connection: Connection) -> None:
        self.connections.add(connection)

    async def disconnected(self, connection: Connection) -> None:
        """A socket went away: the others in its sessions are told."""
        self.connections.discard(connection)
        who = connection.participant
        for session_id in list(connection.sessions):
            async with self._lock(session_id):
                self.hub.unfollow(session_id, connection)
                session = self.sessions.get(session_id)
                if session is None or who is None or self._still_attached(session_id, who):
                    continue
                event = session.disconnected(who)
                if event is not None:
                    await self._store(session, event)
        if who is not None and who.role is Role.AGENT:
            presence = self.agents.get(who.id)
            if presence is not None:
                presence.connections.discard(connection)
                if not presence.connections:
                    del self.agents[who.id]

    def _still_attached(self, session_id: str, who: Participant) -> bool:
        return any(c.participant == who for c in self.hub.followers(session_id))

    # -- customer -------------------------------------------------------------

    async def start(self, connection: Connection, nickname: str, subject: str) -> None:
        if connection.sessions:
            raise ChatError(ErrorCode.ALREADY_STARTED, "this connection already has a chat session")
        session, token = ChatSession.open(uuid.uuid4().hex, self.instance.pair, nickname, subject)
        async with self._lock(session.id):
            self.sessions[session.id] = session
            self._attach(session.id, connection, session.customer)
            await connection.deliver({
                "type": str(Out.STARTED),
                "session_id": session.id,
                "token": token,
                "participant_id": session.customer.id,
            })
            await self._store(
                session, session.joined(session.customer),
                open_set=OpenSet.OPEN, queue=Queue.PUSH, facts=session.facts(),
            )
        logger.info("session %s started by customer %s", session.id, session.customer.id)
        await self.route()

    async def resume(self, connection: Connection, session_id: str, token: str, last_seq: int) -> None:
        session = await self._get(session_id)
        if session is None or not session.token_matches(token):
            raise ChatError(ErrorCode.BAD_TOKEN, "no chat session with that id and token")
        if connection.sessions - {session_id}:
            raise ChatError(ErrorCode.ALREADY_STARTED, "this connection already has a chat session")
        await self._reattach(connection, session, session.customer, last_seq)

    # -- agent ----------------------------------------------------------------

    async def agent_connected(self, connection: Connection, agent: Participant) -> None:
        presence = self.agents.setdefault(agent.id, AgentPresence(agent))
        presence.connections.add(connection)

    async def ready(self, connection: Connection, available: bool) -> None:
        presence = self.agents[connection.participant.id]
        if available and not presence.available:
            presence.ready_since = time.monotonic()
        presence.available = available
        if available:
            await self.route()

    async def agent_resume(self, connection: Connection, last_seqs: dict[str, int]) -> None:
        """Re-attach an agent to each chat it holds; an error for each it does not."""
        for session_id, last_seq in last_seqs.items():
            session = await self._get(session_id)
            if session is None or session.agent is None or session.agent.id != connection.participant.id:
                await connection.deliver(ChatError(
                    ErrorCode.NOT_YOURS, f"session {session_id} is not one of your chats", session_id
                ).frame())
                continue
            await self._reattach(connection, session, session.agent, last_seq)

    # -- both -----------------------------------------------------------------

    async def message(self, connection: Connection, session_id: str | None, text: str, client_id: str) -> None:
        session = self._session_of(connection, session_id)
        async with self._lock(session.id):
            event = session.message(
                connection.participant, text, client_id, self.instance.settings["max-message-length"]
            )
            stored = await self._store(session, event, client_id=client_id)
            if stored.duplicate:
                await connection.deliver(stored.event)

    async def typing(self, connection: Connection, session_id: str | None, state: bool) -> None:
        session = self._session_of(connection, session_id)
        frame = session.typing(connection.participant, state)
        await self.hub.publish(session.id, frame, exclude=connection)

    async def leave(self, connection: Connection, session_id: str | None) -> None:
        session = self._session_of(connection, session_id)
        who = connection.participant
        async with self._lock(session.id):
            for event in session.leave(who):
                await self._store(session, event, **self._bookkeeping(event))
            if who.role is Role.AGENT:
                self._detach_agent(session.id, who)
        await self.route()

    async def close(self, connection: Connection, session_id: str | None) -> None:
        session = self._session_of(connection, session_id)
        async with self._lock(session.id):
            event = session.close(connection.participant)
            await self._store(session, event, **self._bookkeeping(event))
        await self.route()

    # -- from outside a socket (the transcript worker, the HA driver) ---------

    async def notice(self, session_id: str, notice: Notice, **fields: Any) -> None:
        """Store a ``notice`` event in an open session and send it to everyone in it."""
        session = self.sessions.get(session_id)
        if session is None:
            return
        async with self._lock(session_id):
            if session.is_open:
                await self._store(session, session.event(Event.NOTICE, notice=str(notice), **fields))

    async def end(self, session_id: str, reason: CloseReason) -> None:
        """Close an open session for ``reason``; every participant gets ``closed``."""
        session = self.sessions.get(session_id)
        if session is None:
            return
        async with self._lock(session_id):
            if session.is_open:
                event = session.closing(reason)
                await self._store(session, event, **self._bookkeeping(event))
        await self.route()

    # -- routing --------------------------------------------------------------

    async def route(self) -> None:
        """Give waiting chats, oldest first, to available agents while any has room;
        tell each chat still waiting its place in the queue when that changed."""
        async with self._routing:
            open_chats = Counter(
                s.agent.id for s in self.sessions.values() if s.is_open and s.agent is not None
            )
            waiting = [
                session for session_id in await self.log.queue()
                if (session := self.sessions.get(session_id)) is not None and session.status is Status.QUEUED
            ]
            while waiting:
                loads = [
                    assignment.AgentLoad(agent_id, open_chats[agent_id], presence.ready_since)
                    for agent_id, presence in self.agents.items()
                    if presence.available
                ]
                chosen = assignment.pick_agent(loads, self.instance.settings["agent-capacity"])
                if chosen is None:
                    break
                await self._assign(waiting.pop(0), self.agents[chosen])
                open_chats[chosen] += 1
            for position, session in enumerate(waiting, start=1):
                async with self._lock(session.id):
                    if session.status is Status.QUEUED and session.queue_position != position:
                        await self._store(session, session.queued(position))

    async def _assign(self, session: ChatSession, presence: AgentPresence) -> None:
        agent = presence.participant
        async with self._lock(session.id):
            await self._store(session, session.joined(agent), queue=Queue.REMOVE)
            history = await self.log.events_after(session.id, 0)
            for connection in presence.connections:
                self._attach(session.id, connection, agent)
                await connection.deliver({
                    "type": str(Out.ASSIGNED),
                    "session_id": session.id,
                    "customer": session.customer.as_dict(),
                    "subject": session.subject,
                    "participant_id": agent.id,
                })
                for event in history:
                    await connection.deliver(event)
        logger.info("session %s assigned to agent %s", session.id, agent.nickname)

    # -- internals ------------------------------------------------------------

    async def _store(self, session: ChatSession, event: dict[str, Any], **options: Any) -> Stored:
        """Append to the live log at this instance's epoch, fold, publish. Caller holds the lock."""
        try:
            stored = await self.log.append(self.instance.epoch, event, **options)
        except Fenced as fenced:
            logger.warning("session %s: %s", session.id, fenced)
            await self.instance.fenced(fenced.pair_epoch)
            raise ChatError(ErrorCode.NOT_PRIMARY, "this server no longer serves the chat") from None
        if not stored.duplicate:
            session.apply(stored.event)
            await self.hub.publish(session.id, stored.event)
            if not session.is_open:
                self.sessions.pop(session.id, None)
            for hook in self.stored_hooks:
                await hook(session, stored.event)
        return stored

    @staticmethod
    def _bookkeeping(event: dict[str, Any]) -> dict[str, Any]:
        """How an event moves its session in the pair's open set and queue."""
        if event["type"] == Event.CLOSED:
            return {"open_set": OpenSet.CLOSE, "queue": Queue.REMOVE}
        if event["type"] == Event.LEFT and event["role"] == Role.AGENT:
            return {"queue": Queue.PUSH}
        return {}

    async def _reattach(self, connection: Connection, session: ChatSession, who: Participant, last_seq: int) -> None:
        logger.info("session %s: %s %s resumes after seq %d", session.id, who.role, who.id, last_seq)
        async with self._lock(session.id):
            missed = await self.log.events_after(session.id, last_seq)
            self._attach(session.id, connection, who)
            await connection.deliver({
                "type": str(Out.RESUMED),
                "session_id": session.id,
                "epoch": self.instance.epoch,
                "last_seq": session.last_seq,
            })
            for event in missed:
                await connection.deliver(event)
            event = session.reconnected(who)
            if event is not None:
                await self._store(session, event)

    def _lock(self, session_id: str) -> asyncio.Lock:
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
        return lock

    def _attach(self, session_id: str, connection: Connection, who: Participant) -> None:
        connection.participant = who
        connection.sessions.add(session_id)
        self.hub.follow(session_id, connection)

    def _detach_agent(self, session_id: str, agent: Participant) -> None:
        presence = self.agents.get(agent.id)
        for connection in presence.connections if presence else ():
            connection.sessions.discard(session_id)
            self.hub.unfollow(session_id, connection)

    def _session_of(self, connection: Connection, session_id: str | None) -> ChatSession:
        """The session a frame names (a customer's own when it names none), if this
        connection takes part in it."""
        if session_id is None:
            if not connection.sessions:
                raise ChatError(ErrorCode.NO_SESSION, "start or resume a chat session first")
            session_id = next(iter(connection.sessions))
        if session_id not in connection.sessions:
            raise ChatError(ErrorCode.NOT_YOURS, f"session {session_id} is not yours")
        session = self.sessions.get(session_id)
        if session is None:
            raise ChatError(ErrorCode.SESSION_CLOSED, f"session {session_id} is closed")
        return session

    async def _get(self, session_id: str) -> ChatSession | None:
        return self.sessions.get(session_id) or await self._load(session_id)

    async def _load(self, session_id: str) -> ChatSession | None:
        [(facts, events)] = await self.log.sessions([session_id])
        return self._rebuild(session_id, facts, events)

    def _rebuild(self, session_id: str, facts: dict[str, str], events: list[dict[str, Any]]) -> ChatSession | None:
        """The session from its log, kept in memory while it is open; None if unknown."""
        if not facts:
            return None
        session = ChatSession.rebuild(session_id, facts, events)
        if session.is_open:
            self.sessions[session_id] = session
        return session


_service: ChatService | None = None


def install(chat_service: ChatService) -> None:
    """Make ``chat_service`` the one the consumers of this process use."""
    global _service
    _service = chat_service


def service() -> ChatService:
    if _service is None:
        raise RuntimeError("no chat service: run the server with `manage.py runchatserver NAME`")
    return _service
