"""Websocket consumers: adapt frames to ChatService calls, errors to frames.

Nothing here decides anything about a chat; see chat.service.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from redis.exceptions import RedisError

from chatsite import metrics
from ha.runtime import current

from . import inbound
from .frames import (
    CLOSE_FORBIDDEN,
    CLOSE_INTERNAL_ERROR,
    CLOSE_NOT_PRIMARY,
    CLOSE_POLICY_VIOLATION,
    ErrorCode,
    Out,
)
from .identity import login_of
from .limits import Limit, SocketLimits, too_many_sockets
from .service import ChatService, service
from .session import ChatError, Participant
from .wire import frame_text

logger = logging.getLogger(__name__)

# How long the handshake of a socket that reaches a member in the middle of a
# takeover or a hand-over waits for it to serve: a takeover of 1,000 chats restores in about
# 0.2 s, well within this; past it the client is refused and tries again.
HOLD_WHILE_TAKING_OVER_S = 1.5


def wants_standby(scope: dict[str, Any]) -> bool:
    """Whether the client opened this socket as a standby (``?standby=1``): one it keeps
    to the other member of the pair, to resume on when its socket to the primary drops.
    A takeover then costs the client no handshake: at 1,000 chats, 2,000 handshakes
    were the bulk of a reconnect storm (bench/README.md, issue 8)."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return query.get("standby") == ["1"]


class ChatConsumer(AsyncWebsocketConsumer):
    """What both sockets share: the backup's refusal, the frame checks and limits
    of the edge, and the one way out of every frame.

    A frame ends in one of two ways: an ``error`` frame with the socket kept (a
    refused frame, a store that did not answer), or, for an error nobody
    expected, the same clean-up as a disconnect and a close (4011). Channels
    would otherwise close the socket and never call ``disconnect``, leaving a
    ghost in the registry."""

    # The typed frame (chat.inbound) of a decoded frame, by the socket's side.
    parse: Callable[[dict[str, Any]], inbound.Frame]
    # Events reach sockets through the registry (chat.registry), never through
    # the channel layer: a layer channel per socket would cost each socket a
    # blocking Redis receive, for nothing.
    channel_layer_alias = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Channels' loop for a consumer with no channel layer: each message from
        daphne to its handler, in turn. Channels waits on a new task per message
        (``await_many_dispatch``, which also serves a channel layer's messages),
        and a takeover brings thousands of frames at once."""
        self.scope, self.channel_layer, self.base_send = scope, None, send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch, less its ``aclose_old_connections()`` before every
        message: that is a hop to the one thread all ORM calls share, and these
        consumers never touch the database. Under a reconnect storm those hops,
        queued behind each other, were what kept 2,000 sockets waiting."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        await handler(message)

    # None on a socket this instance refused or dropped: what still arrives on
    # it (a client sends its resume as soon as the socket opens) is ignored.
    chats: ChatService | None = None
    # A standby socket (see wants_standby) until its first frame.
    standing_by = False
    dropped = False
    address: str | None = None
    counted = False  # in chats.addresses, until the socket goes

    async def connect(self) -> None:
        arrived = time.monotonic()
        instance = current()
        if wants_standby(self.scope):
            # Any member takes a standby at once: it waits, attached to nothing, for
            # the client's first frame (see receive).
            await self.accept()
            if await self._admitted():
                self._stand_by(True)
                await self.send_json({"type": str(Out.STANDBY)})
            return
        # A member that is taking over holds the handshake until it serves, instead
        # of refusing the socket to have it knock again: a reconnect storm costs one
        # handshake per socket. A member with a live primary elsewhere refuses at
        # once. The accept comes after the wait, so that a page's "open" (and the
        # topology it then reads) means a member that serves.
        serves = instance is not None and await instance.until_serving(arrived, HOLD_WHILE_TAKING_OVER_S)
        await self.accept()
        if not serves:
            await self.refuse()
            return
        if await self._admitted():
            await self._attach()

    async def _admitted(self) -> bool:
        """Count the socket against its address's limit, or drop it when over."""
        chats = service()
        self.address = (self.scope.get("client") or (None,))[0]
        if not chats.addresses.open(self.address, chats.instance.settings):
            logger.warning("refused a socket from %s: %d open already (%s)", self.address,
                           chats.addresses.sockets(self.address), Limit.ADDRESS_SOCKETS)
            metrics.SOCKETS_CLOSED_BY_SERVER.labels("too-many-sockets").inc()
            await self.drop(too_many_sockets(chats.instance.settings).frame(), CLOSE_POLICY_VIOLATION)
            return False
        self.counted = True
        return True

    async def _attach(self) -> None:
        """Serve this socket: into the registry, with fresh frame limits."""
        chats = service()
        self.limits, self.chats = SocketLimits(), chats
        chats.connected(self)
        await self.joined()

    async def _take_up_standby(self) -> bool:
        """A standby socket's first frame: serve the socket from now on if this member
        serves or is about to (a takeover or a hand-over under way, as for a handshake
        in connect), else refuse it as a backup refuses any socket. The frame waits
        meanwhile: its client's primary has just gone, and this member may not have
        seen it go yet."""
        self._stand_by(False)
        instance = current()
        try:
            serves = instance is not None and await instance.until_serving(
                time.monotonic(), HOLD_WHILE_TAKING_OVER_S)
        except asyncio.CancelledError:
            await self._gone()  # the client went while its frame waited
            raise
        metrics.STANDBY_TAKEN_UP.labels("served" if serves else "refused").inc()
        if not serves:
            await self.refuse()
            return False
        await self._attach()
        return True

    def _stand_by(self, standing: bool) -> None:
        """The one place a socket becomes or stops being a standby (and is counted)."""
        if standing != self.standing_by:
            self.standing_by = standing
            (metrics.STANDBY_SOCKETS.inc if standing else metrics.STANDBY_SOCKETS.dec)()

    async def joined(self) -> None:
        """Hook for what a socket does once accepted on the serving instance."""

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """Channels' own, less its ``aclose_old_connections()`` (a hop to the ORM
        thread, as in ``dispatch``; a reconnect storm is also a disconnect storm)
        and its channel-layer groups (these consumers have none)."""
        await self.disconnect(message.get("code", 1000))
        raise StopConsumer()

    async def disconnect(self, code: int) -> None:
        await self._gone()

    async def _gone(self) -> None:
        """The socket is gone or going: out of the registry (its sessions are told)
        and out of its address's count. Once, whichever way it went."""
        self._stand_by(False)
        chats, self.chats = self.chats, None
        if self.counted:
            self.counted = False
            service().addresses.closed(self.address)
        if chats is not None:
            await chats.disconnected(self)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.standing_by and not await self._take_up_standby():
            return
        chats = self.chats
        if chats is None:
            return
        if not chats.instance.serving:
            # Lost the role, or handing it over: the client re-sends to the new primary.
            await self.refuse()
            return
        settings = chats.instance.settings
        if not self.limits.frame(time.monotonic(), settings):
            logger.warning("closing a socket from %s: more than %d frames in 10 s (%s)",
                           self.address, settings[Limit.FRAMES], Limit.FRAMES)
            metrics.SOCKETS_CLOSED_BY_SERVER.labels("flood").inc()
            await self._end(CLOSE_POLICY_VIOLATION, ChatError(
                ErrorCode.RATE_LIMITED, f"rate limit {Limit.FRAMES}: more than {settings[Limit.FRAMES]} "
                "frames in 10 s; this socket is closed").frame())
            return
        try:
            await self.handle(self.parse(inbound.decode(text_data)))
        except ChatError as error:
            metrics.FRAMES_REFUSED.labels(error.code).inc()
            await self.send_json(error.frame())
        except RedisError as error:
            metrics.FRAMES_REFUSED.labels(ErrorCode.UNAVAILABLE).inc()
            logger.warning("socket from %s: the live log did not answer (%r); the frame was refused",
                           self.address, error)
            await self.send_json(ChatError(ErrorCode.UNAVAILABLE, "the chat store did not answer; "
                                           "nothing was done, send the frame again").frame())
        except asyncio.CancelledError:
            await self._gone()  # daphne cancels a frame still running when its socket closed
            raise
        except Exception:
            logger.exception("socket from %s: a frame failed; closing the socket", self.address)
            metrics.SOCKETS_CLOSED_BY_SERVER.labels("internal-error").inc()
            await self._end(CLOSE_INTERNAL_ERROR)

    async def handle(self, frame: inbound.Frame) -> None:
        """Act on a checked frame: what both sides send."""
        chats, now = self.chats, time.monotonic()
        match frame:
            case inbound.Message():
                self.limits.message(now, chats.instance.settings)
                await chats.message(self, frame.session_id, frame.text, frame.client_id)
            case inbound.Typing():
                self.limits.typing_notice(now, chats.instance.settings)
                await chats.typing(self, frame.session_id, frame.state)
            case inbound.Leave():
                await chats.leave(self, frame.session_id, frame.note)
            case _:
                raise AssertionError(f"no handler for {frame!r}")

    async def _end(self, code: int, frame: dict[str, Any] | None = None) -> None:
        """Clean up as on a disconnect, then tell the client (``frame``) and close."""
        await self._gone()
        try:
            if frame is not None:
                await self.send_json(frame)
            await self.close(code=code)
        except Exception:
            logger.debug("socket from %s was closed already", self.address, exc_info=True)

    async def send_json(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=frame_text(frame))

    # The chat service's side of a connection.
    async def deliver(self, frame: dict[str, Any]) -> None:
        await self.send_json(frame)

    async def send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def drop(self, frame: dict[str, Any], code: int) -> None:
        """Send ``frame`` and close. Nothing is written for the dropped socket: this
        instance no longer serves (see ChatService.stop_serving); the new primary
        marks who was disconnected. Once only: the frame that finds the role gone
        and the stop that closes every socket may both get here, and a second
        close can reset the connection before the client read the first frame."""
        if self.dropped:
            return
        self.dropped, self.chats = True, None
        if self.counted:
            self.counted = False
            service().addresses.closed(self.address)
        await self.send_json(frame)
        await self.close(code=code)

    async def refuse(self) -> None:
        """Tell the client this instance does not serve, and where the primary is."""
        instance = current()
        primary = instance.primary_hint() if instance is not None else None
        await self.drop({"type": str(Out.NOT_PRIMARY), "primary": primary}, CLOSE_NOT_PRIMARY)


class CustomerConsumer(ChatConsumer):
    parse = staticmethod(inbound.customer_frame)

    async def handle(self, frame: inbound.Frame) -> None:
        match frame:
            case inbound.Start():
                await self.chats.start(self, frame.nickname, frame.subject, self.address)
            case inbound.Resume():
                self.limits.resume(time.monotonic())
                await self.chats.resume(self, frame.session_id, frame.token, frame.last_seq)
            case _:
                await super().handle(frame)


class AgentConsumer(ChatConsumer):
    parse = staticmethod(inbound.agent_frame)

    # The login (chat.identity.login_of) this socket came in with: chat.logouts
    # closes the socket when that login logs out.
    login: str | None = None

    async def connect(self) -> None:
        # scope["user"] is chat.identity's KnownUser for a login, which says whether
        # it is an agent (chat.agents); AnonymousUser otherwise.
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active or not getattr(user, "is_agent", False):
            await self.close(code=CLOSE_FORBIDDEN)  # before accept: the handshake gets 403
            return
        self.login = login_of(self.scope)
        await super().connect()

    async def joined(self) -> None:
        user = self.scope["user"]
        await self.chats.agent_connected(self, Participant.agent(user.pk, user.get_full_name() or user.username))

    async def handle(self, frame: inbound.Frame) -> None:
        match frame:
            case inbound.Ready():
                await self.chats.ready(self, frame.available)
            case inbound.AgentResume():
                self.limits.resume(time.monotonic())
                await self.chats.agent_resume(self, frame.sessions)
            case inbound.Close():
                await self.chats.close(self, frame.session_id)
            case inbound.StaffMessage():
                self.limits.message(time.monotonic(), self.chats.instance.settings)
                await self.chats.staff_message(self, frame.session_id, frame.text, frame.client_id, frame.visibility)
            case inbound.Transfer():
                await self.chats.transfer(self, frame.session_id, frame.to, frame.note)
            case inbound.ListAgents():
                await self.chats.agents(self)
            case _:
                await super().handle(frame)


class SupervisorConsumer(ChatConsumer):
    """A supervisor's socket (chat.supervision): the open chats, monitor, coach, barge in."""

    parse = staticmethod(inbound.supervisor_frame)
    login: str | None = None

    async def connect(self) -> None:
        # As the agent socket: scope["user"] is chat.identity's KnownUser, which says
        # whether it is a supervisor (chat.supervisors); refused before accept (403).
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active or not getattr(
                user, "is_supervisor", False):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.login = login_of(self.scope)
        await super().connect()

    async def joined(self) -> None:
        user = self.scope["user"]
        await self.chats.supervisor_connected(
            self, Participant.supervisor(user.pk, user.get_full_name() or user.username))

    async def handle(self, frame: inbound.Frame) -> None:
        chats = self.chats
        match frame:
            case inbound.Monitor():
                await chats.monitor(self, frame.session_id, frame.last_seq)
            case inbound.Unmonitor():
                await chats.unmonitor(self, frame.session_id)
            case inbound.BargeIn():
                await chats.barge_in(self, frame.session_id)
            case inbound.StaffMessage():
                self.limits.message(time.monotonic(), chats.instance.settings)
                await chats.supervisor_message(self, frame.session_id, frame.text, frame.client_id,
                                               frame.visibility)
            case inbound.Leave():
                await chats.supervisor_leave(self, frame.session_id)
            case _:
                raise AssertionError(f"no handler for {frame!r}")
