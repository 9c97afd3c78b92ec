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
why (autobahn dropped the connection bare); no observer event is fired.
"""
from __future__ import annotations

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
    """daphne's websocket protocol, with a bound on what waits to be sent and
    one UTF-8 check per text frame."""

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
        if not isBinary:
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError as error:
                logger.info("closing the websocket of %s: a text frame that is not UTF-8 (%s)",
                            self.client_addr, error.reason)
                metrics.SOCKETS_CLOSED_BY_SERVER.labels("not-utf-8").inc()
                # A close frame that says why, not autobahn's bare drop; nothing more
                # of this socket reaches the application (failedByMe), but its close.
                self.failByDrop = False
                self._fail_connection(self.CLOSE_STATUS_CODE_INVALID_PAYLOAD, "a text frame must be UTF-8")
                return
        super().onMessage(payload, isBinary)

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        """autobahn's, but a frame goes to the kernel at once when nothing waits
        before it. Twisted only queues a write and sends it on the next turn of
        the loop (twisted/twisted#5303): two epoll changes and a callback per
        frame, a fifth of what a busy server spent. A frame the kernel does not
        take whole, and any frame behind one that waits, goes Twisted's way."""
        if sync or chopsize or self.send_queue or not self._sent_at_once(data):
            super().sendData(data, sync, chopsize)

    def _sent_at_once(self, data: bytes) -> bool:
        transport = self.transport
        if (getattr(transport, "TLS", True) or not transport.connected or transport.disconnecting
                or getattr(transport, "_writeDisconnected", True) or unsent_bytes(transport)):
            return False
        written = transport.writeSomeData(data)
        if isinstance(written, Exception):
            return False  # lost: queued, Twisted finds it out on its next write
        if written < len(data):
            transport.write(data[written:])
        return True

    def serverSend(self, content: bytes | str, binary: bool = False) -> None:
        if self.state == self.STATE_OPEN and unsent_bytes(self.transport) > self.max_unsent_bytes:
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
