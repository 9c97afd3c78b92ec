"""Websocket consumers: adapt frames to ChatService calls, errors to frames.

Nothing here decides anything about a chat; see chat.service.
"""
from __future__ import annotations

import json
import time
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer

from ha.runtime import current

from .frames import CLOSE_FORBIDDEN, CLOSE_NOT_PRIMARY, ErrorCode, In, Out
from .identity import login_of
from .service import ChatService, service
from .session import ChatError, Participant

# How long the handshake of a socket that reaches a member in the middle of a
# takeover or a hand-over waits for it to serve: a takeover of 1,000 chats restores in about
# 0.2 s, well within this; past it the client is refused and tries again.
HOLD_WHILE_TAKING_OVER_S = 1.5


def _field(frame: dict[str, Any], name: str, kind: type, default: Any = ...) -> Any:
    """frame[name], checked to be of ``kind``; a ChatError a client can read otherwise."""
    if name not in frame or frame[name] is None:
        if default is not ...:
            return default
        raise ChatError(ErrorCode.MISSING_FIELD, f"{frame['type']!r} needs {name!r} ({kind.__name__})")
    value = frame[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ChatError(ErrorCode.BAD_FRAME, f"{name!r} must be of type {kind.__name__}")
    return value


class ChatConsumer(AsyncWebsocketConsumer):
    """What both sockets share: the backup's refusal, JSON framing, errors."""

    handlers: dict[str, str] = {}
    # Events reach sockets through the registry (chat.registry), never through
    # the channel layer: a layer channel per socket would cost each socket a
    # blocking Redis receive, for nothing.
    channel_layer_alias = None

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
    dropped = False

    async def connect(self) -> None:
        arrived = time.monotonic()
        instance = current()
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
        self.chats = service()
        self.chats.connected(self)
        await self.joined()

    async def joined(self) -> None:
        """Hook for what a socket does once accepted on the serving instance."""

    async def disconnect(self, code: int) -> None:
        if self.chats is not None:
            await self.chats.disconnected(self)
            self.chats = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.chats is None:
            return
        if not self.chats.instance.serving:
            # Lost the role, or handing it over: the client re-sends to the new primary.
            await self.refuse()
            return
        try:
            frame = self._decode(text_data)
            handler = self.handlers.get(frame["type"])
            if handler is None:
                raise ChatError(
                    ErrorCode.UNKNOWN_TYPE,
                    f"unknown frame type {frame['type']!r}; known: {', '.join(self.handlers)}",
                )
            await getattr(self, handler)(frame)
        except ChatError as error:
            await self.send_json(error.frame())

    @staticmethod
    def _decode(text_data: str | None) -> dict[str, Any]:
        if text_data is None:
            raise ChatError(ErrorCode.BAD_JSON, "frames are JSON text, not binary")
        try:
            frame = json.loads(text_data)
        except ValueError:
            raise ChatError(ErrorCode.BAD_JSON, "the frame is not valid JSON") from None
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            raise ChatError(ErrorCode.BAD_FRAME, "a frame is a JSON object with a string 'type'")
        return frame

    async def send_json(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame))

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
        await self.send_json(frame)
        await self.close(code=code)

    async def refuse(self) -> None:
        """Tell the client this instance does not serve, and where the primary is."""
        instance = current()
        primary = instance.primary_hint() if instance is not None else None
        await self.drop({"type": str(Out.NOT_PRIMARY), "primary": primary}, CLOSE_NOT_PRIMARY)


class CustomerConsumer(ChatConsumer):
    handlers = {
        In.START: "on_start",
        In.RESUME: "on_resume",
        In.MESSAGE: "on_message",
        In.TYPING: "on_typing",
        In.LEAVE: "on_leave",
    }

    async def on_start(self, frame: dict[str, Any]) -> None:
        nickname = _field(frame, "nickname", str).strip()
        if not nickname:
            raise ChatError(ErrorCode.BAD_FRAME, "'nickname' must not be empty")
        await self.chats.start(self, nickname[:64], _field(frame, "subject", str, "")[:200])

    async def on_resume(self, frame: dict[str, Any]) -> None:
        await self.chats.resume(
            self,
            _field(frame, "session_id", str),
            _field(frame, "token", str),
            _field(frame, "last_seq", int, 0),
        )

    async def on_message(self, frame: dict[str, Any]) -> None:
        await self.chats.message(
            self, _field(frame, "session_id", str, None), _field(frame, "text", str),
            _field(frame, "client_id", str, ""),
        )

    async def on_typing(self, frame: dict[str, Any]) -> None:
        await self.chats.typing(self, _field(frame, "session_id", str, None), _field(frame, "state", bool))

    async def on_leave(self, frame: dict[str, Any]) -> None:
        await self.chats.leave(self, _field(frame, "session_id", str, None))


class AgentConsumer(ChatConsumer):
    handlers = {
        In.READY: "on_ready",
        In.RESUME: "on_resume",
        In.MESSAGE: "on_message",
        In.TYPING: "on_typing",
        In.LEAVE: "on_leave",
        In.CLOSE: "on_close",
    }

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

    async def on_ready(self, frame: dict[str, Any]) -> None:
        await self.chats.ready(self, _field(frame, "available", bool, True))

    async def on_resume(self, frame: dict[str, Any]) -> None:
        sessions = _field(frame, "sessions", dict)
        if not all(isinstance(seq, int) and not isinstance(seq, bool) for seq in sessions.values()):
            raise ChatError(ErrorCode.BAD_FRAME, "'sessions' maps session ids to last seen seqs (integers)")
        await self.chats.agent_resume(self, sessions)

    async def on_message(self, frame: dict[str, Any]) -> None:
        await self.chats.message(
            self, _field(frame, "session_id", str), _field(frame, "text", str),
            _field(frame, "client_id", str, ""),
        )

    async def on_typing(self, frame: dict[str, Any]) -> None:
        await self.chats.typing(self, _field(frame, "session_id", str), _field(frame, "state", bool))

    async def on_leave(self, frame: dict[str, Any]) -> None:
        await self.chats.leave(self, _field(frame, "session_id", str))

    async def on_close(self, frame: dict[str, Any]) -> None:
        await self.chats.close(self, _field(frame, "session_id", str))
