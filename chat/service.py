"""The chat side of one chat server instance, composed from its parts; the
consumers' one entry point (``service()``).

Each part has one job and owns its state:

- chat.limits (``addresses``): sockets and new chats per client address.
- chat.registry: which socket follows which session, which agents are here
  and available; the only place that knows, and every socket's way out.
- chat.messages: the message path (check, store in the live log, fan out) and
  the open sessions in memory, with one lock per session.
- chat.queue: waiting chats and their assignment to agents.
- chat.sweeper: idle chats, participants who never came back, waits past queue-timeout.
- chat.availability (``presence``): who is there for a new chat, for the page.
- chat.takeover: role changes (ha.runtime's listener): restore on takeover,
  drain on switchover, stop serving.
- chat.logouts: closes the agent sockets of a login that logged out.
- chat.operator: closes a chat an operator closed in the admin.

What follows says, for each call of a socket, which parts it takes.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from django.conf import settings

from chatsite import rediskeys
from ha.runtime import Instance

from . import availability, transfers
from .broadcasts import Broadcasts
from .frames import CloseReason, ErrorCode, Notice, Visibility
from .limits import Addresses
from .livelog import LiveLog
from .logouts import Logouts
from .messages import Messages, StoredHook
from .operator import OperatorCommands
from .queue import ChatQueue
from .registry import Attachment, Registry, Socket
from .replication import ReplicaAcks
from .session import ChatError, ChatSession, Participant
from .supervision import Supervision
from .sweeper import Sweeper
from .takeover import RoleChanges

logger = logging.getLogger(__name__)


class ChatService:
    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.registry = Registry(gone=self._gone)
        self.addresses = Addresses(settings.CHAT_TRUSTED_ADDRESSES)
        replicas = ReplicaAcks(settings.REDIS_ACK_REPLICAS, settings.REDIS_ACK_WAIT_MS)
        self.messages = Messages(instance, LiveLog(instance.redis, instance.pair, replicas), self.registry)
        self.queue = ChatQueue(instance, self.messages, self.registry)
        self.sweeper = Sweeper(instance, self.messages, self.queue)
        self.supervision = Supervision(instance, self.messages, self.registry)
        self.presence = availability.Presence(instance, self.registry, self.messages, self.queue)
        self.role_changes = RoleChanges(instance, self.messages, self.registry)
        instance.listener = self.role_changes
        self.logouts = Logouts(instance, self.registry)
        self.operator = OperatorCommands(instance, lambda session_id: session_id in self.sessions, self.end)
        self.broadcasts = Broadcasts(instance)
        self.broadcasts.on(rediskeys.logouts(), self.logouts.message)
        self.broadcasts.on(rediskeys.operator_commands(), self.operator.command)

    @property
    def sessions(self) -> dict[str, ChatSession]:
        """The open sessions, by id (Messages.sessions)."""
        return self.messages.sessions

    @property
    def stored_hooks(self) -> list[StoredHook]:
        """Called after each event is stored and sent (Messages.stored_hooks)."""
        return self.messages.stored_hooks

    async def run(self) -> None:
        """Background work of a serving instance: deadlines (chat.sweeper), places in
        the queue (chat.queue); logouts that close agent sockets (chat.logouts); an
        operator's close from the admin (chat.operator); who is there, for the pages
        (chat.availability); the open chats for supervisors (chat.supervision)."""
        await asyncio.gather(self.sweeper.run(), self.queue.run(), self.broadcasts.run(), self.presence.run(),
                             self.supervision.run())

    # -- sockets --------------------------------------------------------------

    def connected(self, socket: Socket) -> None:
        self.registry.connected(socket)

    async def disconnected(self, socket: Socket) -> None:
        await self.registry.detach(socket)

    async def _gone(self, attachment: Attachment) -> None:
        await self.messages.gone(attachment)

    # -- customer -------------------------------------------------------------

    async def start(self, socket: Socket, nickname: str, subject: str, address: str | None = None) -> None:
        """A new chat, unless it is outside the opening hours, its address started too
        many lately or the queue is full."""
        options = self.instance.settings
        availability.check_start(options)
        self.addresses.new_chat(address, time.monotonic(), options)
        if len(self.messages.waiting) >= options["queue-max-waiting"]:
            raise ChatError(ErrorCode.BUSY, f"{len(self.messages.waiting)} chats wait for an agent already "
                            "(queue-max-waiting): try again later")
        await self.messages.start(socket, nickname, subject)
        await self.queue.route()

    async def resume(self, socket: Socket, session_id: str, token: str, last_seq: int) -> None:
        await self.messages.resume(socket, session_id, token, last_seq)

    # -- agent ----------------------------------------------------------------

    async def agent_connected(self, socket: Socket, agent: Participant) -> None:
        self.registry.agent_connected(socket, agent)

    async def ready(self, socket: Socket, available: bool) -> None:
        agent = self.registry.participant(socket)
        if agent is not None:
            self.registry.set_available(agent.id, available)
            self.queue.agent_changed(agent.id)
            if available:
                await self.queue.route()

    async def agent_resume(self, socket: Socket, last_seqs: dict[str, int]) -> None:
        await self.messages.agent_resume(socket, last_seqs)

    # -- both -----------------------------------------------------------------

    async def message(self, socket: Socket, session_id: str | None, text: str, client_id: str) -> None:
        await self.messages.message(socket, session_id, text, client_id)

    async def typing(self, socket: Socket, session_id: str | None, state: bool) -> None:
        await self.messages.typing(socket, session_id, state)

    async def leave(self, socket: Socket, session_id: str | None, note: str | None = None) -> None:
        """A customer ends the chat; an agent hands it back to the queue, with ``note``
        for the next agent if it wrote one."""
        await self.messages.leave(socket, session_id, note)
        await self.queue.route()

    async def transfer(self, socket: Socket, session_id: str, to: str, note: str | None) -> None:
        """An agent hands its chat to agent ``to``, if chat.transfers' rules let it."""
        session, who = self.messages.taking_part(socket, session_id)
        async with self.queue.routing:
            target = transfers.check_target(who, to, self.registry.agent(to), self.messages.loads[to],
                                            self.instance.settings["agent-capacity"])
            await self.messages.transfer(session, who, target, note)
        await self.queue.route()  # the old agent has room for a waiting chat now

    async def agents(self, socket: Socket) -> None:
        """Tell an agent who it could transfer a chat to now."""
        frame = transfers.targets(self.registry.participant(socket), self.registry.agents(),
                                  self.messages.loads.__getitem__, self.instance.settings["agent-capacity"])
        await self.registry.deliver(socket, [frame])

    async def close(self, socket: Socket, session_id: str | None) -> None:
        await self.messages.close(socket, session_id)
        await self.queue.route()

    async def staff_message(self, socket: Socket, session_id: str, text: str, client_id: str,
                            visibility: Visibility) -> None:
        """An agent's message with a visibility (an answer to its coach)."""
        await self.messages.staff_message(socket, session_id, text, client_id, visibility)

    # -- supervisor (chat.supervision) ----------------------------------------

    async def supervisor_connected(self, socket: Socket, supervisor: Participant) -> None:
        await self.supervision.connected(socket, supervisor)

    async def monitor(self, socket: Socket, session_id: str, last_seq: int) -> None:
        await self.supervision.monitor(socket, session_id, last_seq)

    async def unmonitor(self, socket: Socket, session_id: str) -> None:
        await self.supervision.unmonitor(socket, session_id)

    async def barge_in(self, socket: Socket, session_id: str) -> None:
        await self.supervision.barge_in(socket, session_id)

    async def supervisor_message(self, socket: Socket, session_id: str, text: str, client_id: str,
                                 visibility: Visibility) -> None:
        await self.supervision.message(socket, session_id, text, client_id, visibility)

    async def supervisor_leave(self, socket: Socket, session_id: str) -> None:
        await self.supervision.leave(socket, session_id)

    # -- from outside a socket (the transcript worker) ------------------------

    async def notice(self, session_id: str, notice: Notice, **fields: Any) -> None:
        """Store a ``notice`` event in an open session and send it to everyone in it."""
        await self.messages.notice(session_id, notice, **fields)

    async def end(self, session_id: str, reason: CloseReason) -> None:
        """Close an open session for ``reason``; every participant gets ``closed``."""
        await self.messages.end(session_id, reason)
        await self.queue.route()


_service: ChatService | None = None


def install(chat_service: ChatService) -> None:
    """Make ``chat_service`` the one the consumers of this process use."""
    global _service
    _service = chat_service


def service() -> ChatService:
    if _service is None:
        raise RuntimeError("no chat service: run the server with `manage.py runchatserver NAME`")
    return _service
