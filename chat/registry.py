"""Who is attached to what on the serving instance: the one place that knows.

A socket is connected, then follows sessions as one participant (a customer its
one chat, an agent every chat it holds); an agent's sockets make the agent
present, and available for new chats once it says so. Nothing else keeps any of
this: the message path, the queue and the role changes ask here.

Every way a socket goes away ends in ``detach``: its disconnect, an error that
nobody expected in one of its calls (Channels then closes it with 1011 and
never calls its disconnect), a send to it that fails, and the instance giving
up the role (``detach_all``). A detached socket is forgotten at once and never
comes back; ``attach`` refuses it, so a call still in flight for a socket that
went away meanwhile leaves no ghost.

Events reach followers from here (``publish``), in the order the message path
publishes them under each session's lock: every client of a pair is on the one
serving instance, so the fan-out is a loop in memory, with no broker hop.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .frames import CLOSE_INTERNAL_ERROR
from .session import STAFF, ChatError, Participant
from .visibility import for_customer
from .wire import frame_text

logger = logging.getLogger(__name__)

class Socket(Protocol):
    """What the chat side needs of a websocket consumer."""

    async def deliver(self, frame: dict[str, Any]) -> None: ...

    async def send_text(self, text: str) -> None: ...

    async def drop(self, frame: dict[str, Any], code: int) -> None: ...

    async def close(self, code: int | None = None) -> None: ...


@dataclass
class Attachment:
    """One socket's place: whose it is and which sessions it follows."""

    participant: Participant | None = None
    sessions: set[str] = field(default_factory=set)


@dataclass
class AgentPresence:
    participant: Participant
    sockets: set[Socket] = field(default_factory=set)
    available: bool = False
    ready_since: float = 0.0  # monotonic time of the last change to available


class Registry:
    def __init__(self, gone: Callable[[Attachment], Awaitable[None]]) -> None:
        """``gone`` is told of each socket that went away with what it was attached
        to, once, whichever way it went (the message path marks the participant
        disconnected where it has no other socket)."""
        self._gone = gone
        self._sockets: dict[Socket, Attachment] = {}
        self._followers: dict[str, set[Socket]] = {}
        self._agents: dict[str, AgentPresence] = {}
        # Supervisor sockets (chat.supervision): told the list of open chats.
        self._supervisors: set[Socket] = set()
        # Sockets whose send failed, being closed and accounted for off the lock
        # of the session whose event failed them.
        self._departing: set[asyncio.Task] = set()

    # -- questions ------------------------------------------------------------

    def participant(self, socket: Socket) -> Participant | None:
        attachment = self._sockets.get(socket)
        return attachment.participant if attachment is not None else None

    def sessions(self, socket: Socket) -> frozenset[str]:
        attachment = self._sockets.get(socket)
        return frozenset(attachment.sessions) if attachment is not None else frozenset()

    def followers(self, session_id: str) -> frozenset[Socket]:
        return frozenset(self._followers.get(session_id, ()))

    def still_attached(self, session_id: str, who: Participant) -> bool:
        """Whether ``who`` follows the session on some socket."""
        return any(self._sockets[s].participant == who for s in self._followers.get(session_id, ()))

    def agent(self, agent_id: str) -> AgentPresence | None:
        return self._agents.get(agent_id)

    def socket_counts(self) -> dict[str, int]:
        """Sockets by kind (metrics): an agent's, a customer's (with a chat), or not
        yet either (a customer before start or resume)."""
        agents = sum(len(presence.sockets) for presence in self._agents.values())
        customers = sum(1 for attachment in self._sockets.values()
                        if attachment.participant is not None and attachment.participant.role == "customer")
        return {"agent": agents, "customer": customers, "none": len(self._sockets) - agents - customers}

    def agents(self) -> list[AgentPresence]:
        """The agents present (chat.transfers lists who can take a chat)."""
        return list(self._agents.values())

    def available_count(self) -> int:
        return sum(1 for presence in self._agents.values() if presence.available)

    def sockets_of_login(self, login: str) -> list[Socket]:
        """The agent sockets that came in with ``login`` (their ``login`` attribute,
        chat.identity.login_of), to close when it logs out (chat.logouts). A walk
        over the agents present: a logout is rare, a socket's way in is not."""
        agents = [socket for presence in self._agents.values() for socket in presence.sockets
                  if getattr(socket, "login", None) == login]
        return agents + [socket for socket in self._supervisors if getattr(socket, "login", None) == login]

    # -- attach ---------------------------------------------------------------

    def connected(self, socket: Socket) -> None:
        self._sockets[socket] = Attachment()

    def agent_connected(self, socket: Socket, agent: Participant) -> None:
        attachment = self._sockets.get(socket)
        if attachment is None:
            return  # went away already
        attachment.participant = agent
        self._agents.setdefault(agent.id, AgentPresence(agent)).sockets.add(socket)

    def supervisor_connected(self, socket: Socket, supervisor: Participant) -> None:
        """A supervisor's socket: shown internal events, told the open chats."""
        attachment = self._sockets.get(socket)
        if attachment is None:
            return  # went away already
        attachment.participant = supervisor
        self._supervisors.add(socket)

    def supervisor_sockets(self) -> frozenset[Socket]:
        return frozenset(self._supervisors)

    def unfollow(self, session_id: str, socket: Socket) -> None:
        """``socket`` no longer follows the session (a supervisor stops monitoring it)."""
        attachment = self._sockets.get(socket)
        if attachment is not None:
            attachment.sessions.discard(session_id)
        self._unfollow(session_id, socket)

    def set_available(self, agent_id: str, available: bool) -> None:
        presence = self._agents.get(agent_id)
        if presence is None:
            return
        if available and not presence.available:
            presence.ready_since = time.monotonic()
        presence.available = available

    def attach(self, session_id: str, socket: Socket, who: Participant) -> bool:
        """Make ``socket`` follow the session as ``who``; False if the socket went away."""
        attachment = self._sockets.get(socket)
        if attachment is None:
            return False
        attachment.participant = who
        attachment.sessions.add(session_id)
        self._followers.setdefault(session_id, set()).add(socket)
        return True

    def attach_agent(self, session_id: str, agent: Participant) -> list[Socket]:
        """Make every socket of ``agent`` follow the session; those sockets."""
        presence = self._agents.get(agent.id)
        sockets = list(presence.sockets) if presence is not None else []
        return [socket for socket in sockets if self.attach(session_id, socket, agent)]

    # -- detach ---------------------------------------------------------------

    def detach_agent(self, session_id: str, agent: Participant) -> None:
        """The agent left the session: none of its sockets follows it any more."""
        presence = self._agents.get(agent.id)
        for socket in presence.sockets if presence is not None else ():
            self._sockets[socket].sessions.discard(session_id)
            self._unfollow(session_id, socket)

    async def detach(self, socket: Socket) -> None:
        """The socket went away (disconnect, error): forget it, then tell ``gone``.
        A socket already detached is left alone, so every exit path may call this."""
        attachment = self._forget(socket)
        if attachment is not None:
            await self._gone(attachment)

    def detach_all(self) -> list[Socket]:
        """Forget every socket, telling nobody (the instance no longer serves: the
        new primary marks who was disconnected); the sockets, to be closed."""
        sockets = list(self._sockets)
        self._sockets, self._followers, self._agents = {}, {}, {}
        self._supervisors = set()
        return sockets

    @staticmethod
    async def close(sockets: Iterable[Socket], frame: dict[str, Any], code: int) -> None:
        """Send each socket ``frame`` and close it; one already gone is skipped."""
        for socket in sockets:
            try:
                await socket.drop(frame, code)
            except Exception:
                logger.debug("socket %r was gone already", socket, exc_info=True)

    def _forget(self, socket: Socket) -> Attachment | None:
        attachment = self._sockets.pop(socket, None)
        if attachment is None:
            return None
        self._supervisors.discard(socket)
        for session_id in attachment.sessions:
            self._unfollow(session_id, socket)
        who = attachment.participant
        presence = self._agents.get(who.id) if who is not None else None
        if presence is not None:
            presence.sockets.discard(socket)
            if not presence.sockets:
                del self._agents[who.id]
        return attachment

    def _unfollow(self, session_id: str, socket: Socket) -> None:
        followers = self._followers.get(session_id)
        if followers is not None:
            followers.discard(socket)
            if not followers:
                del self._followers[session_id]

    # -- sending --------------------------------------------------------------

    async def publish(self, session_id: str, frame: dict[str, Any], exclude: Socket | None = None) -> None:
        """Send ``frame`` to every follower of the session but ``exclude``."""
        followers = self.followers(session_id) - {exclude}
        if not followers:
            return  # as for every session at a takeover: nobody is attached yet
        # Once, however many follow the session: the staff's text, the customer's (visibility).
        texts: dict[bool, str | None] = {}
        for socket in followers:
            staff = self._is_staff(socket)
            if staff not in texts:
                shown = frame if staff else for_customer(frame)
                texts[staff] = frame_text(shown) if shown is not None else None
            text = texts[staff]
            if text is None:
                continue  # an internal event: never to a customer
            try:
                await socket.send_text(text)
            except Exception as error:
                self._failed(socket, error)

    async def deliver(self, socket: Socket, frames: Iterable[dict[str, Any]]) -> bool:
        """Send ``frames`` to one socket, in order; False if it failed (and is detached)."""
        staff = self._is_staff(socket)
        try:
            for frame in frames:
                shown = frame if staff else for_customer(frame)
                if shown is not None:
                    await socket.deliver(shown)
        except Exception as error:
            self._failed(socket, error)
            return False
        return True

    def _is_staff(self, socket: Socket) -> bool:
        """Whether the socket is an agent's or a supervisor's: shown internal events.
        Any other socket (a customer's, one not attached yet) is shown the customer's view."""
        attachment = self._sockets.get(socket)
        who = attachment.participant if attachment is not None else None
        return who is not None and who.role in STAFF

    def _failed(self, socket: Socket, error: Exception) -> None:
        """A send failed: detach the socket now, so nothing more is sent to it, and
        close it and tell ``gone`` in a task: the sender may hold the lock of a
        session that ``gone`` needs."""
        logger.info("a send to socket %r failed (%r): detaching it", socket, error)
        attachment = self._forget(socket)
        if attachment is not None:
            task = asyncio.ensure_future(self._depart(socket, attachment))
            self._departing.add(task)
            task.add_done_callback(self._departing.discard)

    async def _depart(self, socket: Socket, attachment: Attachment) -> None:
        try:
            await socket.close(code=CLOSE_INTERNAL_ERROR)
        except Exception:
            logger.debug("socket %r could not be closed", socket, exc_info=True)
        try:
            await self._gone(attachment)
        except ChatError:
            pass  # fenced: the role is being given up, the new primary marks who went
        except Exception:
            logger.exception("telling the sessions of a failed socket that it went away failed")
