"""daphne's websocket protocol as the chat server runs it (``install`` before
``Server.run``): a bound on what waits to be sent, and a leaner receipt of frames.

A client that stops reading cannot make the server hold its frames without end.
Twisted queues whatever the kernel will not take yet, in memory and without a
bound: a socket that resumes a long chat from seq 0 again and again and never
reads (or a desktop whose network went quiet) would grow the server by every
frame it is sent. Each websocket here is dropped once more than
``CHAT_MAX_UNSENT_BYTES`` wait to go out to it; dropping it runs the clean-up
of any disconnect (its chats see ``disconnected``, and a page that is only slow
resumes from its last seq when it reconnects, losing nothing).

Every frame a client sends costs the one event loop, and a takeover brings
thousands at once (bench/README.md, issue 8). autobahn checks a text frame's
UTF-8 a chunk at a time, and fires an observer event (a Deferred) for every
frame; daphne then decodes the payload again and observes nothing. Here the
decode is the one check (C, strict: no surrogate, no overlong form), and a text
frame that is not UTF-8 fails the socket with 1007 and a close frame that says
why (autobahn dropped the connection bare); no observer event is fired. And
the frames a socket is sent in a turn go out in one send, with none of the
epoll changes Twisted makes for each write.

This reads a Twisted TCP transport's write buffer (``unsent_bytes``) and
uses autobahn's own way to fail a connection (``_fail_connection``): an
upgrade of either is checked with the suite and the bench.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol

from . import metrics

logger = logging.getLogger(__name__)


def unsent_bytes(transport: Any) -> int:
    """Bytes a Twisted TCP transport holds that the kernel has not taken yet (its
    write buffer: ``dataBuffer`` from ``offset``, plus what waits to be joined to it)."""
    buffered = getattr(transport, "dataBuffer", b"")
    return len(buffered) - getattr(transport, "offset", 0) + getattr(transport, "_tempDataLen", 0)


class ChatWebSocketProtocol(WebSocketProtocol):
    """daphne's websocket protocol, with a bound on what waits to be sent, one
    UTF-8 check per text frame, and a socket's frames of one turn sent together."""

    max_unsent_bytes = 4 * 1024 * 1024

    def onConnect(self, request: Any) -> Any:
        # onMessage checks each text frame whole; autobahn's incremental check
        # is switched off before the first frame can arrive.
        self.utf8validateIncoming = False
        return super().onConnect(request)

    def onMessageEnd(self) -> None:
        """autobahn's, less the ``message`` event it fires to observers of the
        protocol: nobody observes one here, and each cost a Deferred."""
        if self._listeners:
            super().onMessageEnd()
            return
        if not self.failedByMe:
            self._onMessage(b"".join(self.message_data), self.message_is_binary)
        self.message_data = None

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        # daphne decodes a text frame before it queues it: an invalid one raises
        # there, with nothing queued.
        try:
            super().onMessage(payload, isBinary)
        except UnicodeDecodeError as error:
            logger.info("closing the websocket of %s: a text frame that is not UTF-8 (%s)",
                        self.client_addr, error.reason)
            metrics.SOCKETS_CLOSED_BY_SERVER.labels("not-utf-8").inc()
            # A close frame that says why, not autobahn's bare drop; nothing more
            # of this socket reaches the application (failedByMe), but its close.
            self.failByDrop = False
            self._fail_connection(self.CLOSE_STATUS_CODE_INVALID_PAYLOAD, "a text frame must be UTF-8")

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        """autobahn's, but the frames a socket is sent in one turn of the event
        loop go to the kernel together, at the start of the next, in one send.
        Twisted also gathers them, but registers the socket with epoll and back
        for every write, and runs it through its reactor's logging context
        (twisted/twisted#5303): a fifth of what a busy server spent. What the
        kernel does not take, and anything behind a write Twisted still holds,
        goes Twisted's way."""
        if sync or chopsize or self.send_queue or not self._writes_at_once():
            self._send_gathered()  # in order: what was gathered goes first
            super().sendData(data, sync, chopsize)
            return
        if self._gathered is None:
            self._gathered = []
            asyncio.get_running_loop().call_soon(self._send_gathered)
        self._gathered.append(data)

    _gathered: list[bytes] | None = None  # this turn's frames, not yet sent

    def _writes_at_once(self) -> bool:
        transport = self.transport
        return (not getattr(transport, "TLS", True) and transport.connected and not transport.disconnecting
                and not getattr(transport, "_writeDisconnected", True) and not unsent_bytes(transport))

    def _send_gathered(self) -> None:
        gathered, self._gathered = self._gathered, None
        if not gathered:
            return
        data = b"".join(gathered)
        if self._writes_at_once():
            written = self.transport.writeSomeData(data)
            if isinstance(written, Exception):
                return  # the connection is lost: Twisted tells the protocol on its own
            data = data[written:]
        if data:
            self.transport.write(data)

    def dropConnection(self, abort: bool = False) -> None:
        if not abort:
            self._send_gathered()  # a close frame gathered this turn goes before the FIN
        super().dropConnection(abort)

    def serverSend(self, content: bytes | str, binary: bool = False) -> None:
        unsent = unsent_bytes(self.transport) + sum(map(len, self._gathered or ()))
        if self.state == self.STATE_OPEN and unsent > self.max_unsent_bytes:
            logger.warning("dropping the websocket of %s: it stopped reading (more than %d bytes wait to be "
                           "sent to it)", self.client_addr, self.max_unsent_bytes)
            metrics.SOCKETS_CLOSED_BY_SERVER.labels("stopped-reading").inc()
            self.dropConnection(abort=True)
            return
        super().serverSend(content, binary)


def install(max_unsent_bytes: int) -> None:
    """Make daphne build every websocket as a ChatWebSocketProtocol (before ``Server.run``)."""
    ChatWebSocketProtocol.max_unsent_bytes = max_unsent_bytes
    WebSocketFactory.protocol = ChatWebSocketProtocol
