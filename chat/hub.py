"""In-process fan-out: which connections on this instance follow which session.

Every client of a pair is on its one serving instance, so an event needs no
broker hop to reach them: the service publishes it here, under the session's
lock, and each connection gets it in seq order.
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Connection(Protocol):
    async def send_text(self, text: str) -> None: ...


class Hub:
    def __init__(self) -> None:
        self._followers: defaultdict[str, set[Connection]] = defaultdict(set)

    def follow(self, session_id: str, connection: Connection) -> None:
        self._followers[session_id].add(connection)

    def unfollow(self, session_id: str, connection: Connection) -> None:
        followers = self._followers.get(session_id)
        if followers is not None:
            followers.discard(connection)
            if not followers:
                del self._followers[session_id]

    def followers(self, session_id: str) -> set[Connection]:
        return set(self._followers.get(session_id, ()))

    async def publish(
        self, session_id: str, frame: dict[str, Any], exclude: Connection | None = None
    ) -> None:
        text = json.dumps(frame)  # once, however many follow the session
        for connection in self.followers(session_id):
            if connection is exclude:
                continue
            try:
                await connection.send_text(text)
            except Exception:
                # A socket that died mid-send is cleaned up by its own disconnect.
                logger.debug("could not deliver to %r", connection, exc_info=True)
