"""A client that stops reading cannot make the server hold its frames without end.

Twisted queues whatever the kernel will not take yet, in memory and without a
bound: a socket that resumes a long chat from seq 0 again and again and never
reads (or a desktop whose network went quiet) would grow the server by every
frame it is sent. Each websocket here is dropped once more than
``CHAT_MAX_UNSENT_BYTES`` wait to go out to it; dropping it runs the clean-up
of any disconnect (its chats see ``disconnected``, and a page that is only slow
resumes from its last seq when it reconnects, losing nothing).
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


class BoundedWebSocketProtocol(WebSocketProtocol):
    """daphne's websocket protocol, with a bound on what waits to be sent."""

    max_unsent_bytes = 4 * 1024 * 1024

    def serverSend(self, content: bytes | str, binary: bool = False) -> None:
        if self.state == self.STATE_OPEN and unsent_bytes(self.transport) > self.max_unsent_bytes:
            logger.warning("dropping the websocket of %s: it stopped reading (more than %d bytes wait to be "
                           "sent to it)", self.client_addr, self.max_unsent_bytes)
            metrics.SOCKETS_CLOSED_BY_SERVER.labels("stopped-reading").inc()
            self.dropConnection(abort=True)
            return
        super().serverSend(content, binary)


def install(max_unsent_bytes: int) -> None:
    """Make daphne build every websocket with the bound (before ``Server.run``)."""
    BoundedWebSocketProtocol.max_unsent_bytes = max_unsent_bytes
    WebSocketFactory.protocol = BoundedWebSocketProtocol
