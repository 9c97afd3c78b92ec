"""An operator closes a chat from the admin (issue 12), whichever member served
the admin page.

The admin is a Django view on either member of the pair; only the serving
primary holds the session and may write to its log. So the view publishes the
command on ``rediskeys.operator_commands()`` (``request_close``), as a logout is
published (chat.logouts), and every instance listens (``OperatorCommands``): the
one that holds the session ends it with ``closed``, reason ``operator-closed``,
which every participant gets; the others hold nothing and do nothing.

Who may close: a staff user with the ``ha.change_application`` permission (a
superuser has it), the one who may change the pair's configuration
(``may_close``). Every close is logged with who asked, on both sides.

Pub/sub reaches who listens at the moment: a close asked while nobody serves (a
failover) is lost, and the admin says the chat is still open.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any

import redis

from chatsite import rediskeys
from ha.runtime import Instance

from . import live_sessions
from .frames import CloseReason

logger = logging.getLogger(__name__)

# How often ``close`` looks whether the session left its pair's open set.
CLOSE_POLL_S = 0.05

# The permission that lets a staff user close a chat (see may_close).
CLOSE_PERMISSION = "ha.change_application"


def may_close(user: Any) -> bool:
    """Whether ``user`` (a Django user) may close a live chat."""
    return bool(user.is_active and user.is_staff and user.has_perm(CLOSE_PERMISSION))


def request_close(client: redis.Redis, session_id: str, by: str) -> int:
    """Ask the serving instance to close ``session_id`` (``by``: who asked, for its log);
    the number of instances that heard it (0: none listens, nothing will close)."""
    listeners = int(client.publish(rediskeys.operator_commands(),
                                   json.dumps({"close": session_id, "by": by})))
    logger.info("operator %s asked to close chat session %s (%d instances listening)", by, session_id, listeners)
    return listeners


class Closed(Enum):
    """What came of an operator's close, as the admin tells it."""

    CLOSED = "closed"
    NOT_OPEN = "not open"
    NOBODY_LISTENS = "nobody listens"
    STILL_OPEN = "still open"

    def describe(self, session_id: str) -> str:
        return {
            Closed.CLOSED: "Closed chat session {}: the customer and the agent got `closed` (operator-closed).",
            Closed.NOT_OPEN: "Chat session {} is not open: nothing to close.",
            Closed.NOBODY_LISTENS: "No chat server instance is listening: chat session {} was not closed.",
            Closed.STILL_OPEN: "Asked the serving primary to close chat session {}, but it is still open"
                               " (no primary serves it right now?): try again.",
        }[self].format(session_id)


def close(client: redis.Redis, session_id: str, by: str, wait_s: float) -> Closed:
    """Close an open session through its serving primary, and wait up to ``wait_s``
    for its live log to say it closed."""
    pair = live_sessions.pair_of(client, session_id) if session_id else None
    if pair is None or not live_sessions.is_open(client, pair, session_id):
        return Closed.NOT_OPEN
    if request_close(client, session_id, by) == 0:
        return Closed.NOBODY_LISTENS
    deadline = time.monotonic() + wait_s
    while live_sessions.is_open(client, pair, session_id):
        if time.monotonic() > deadline:
            return Closed.STILL_OPEN
        time.sleep(CLOSE_POLL_S)
    return Closed.CLOSED


class OperatorCommands:
    """What an operator's command does on an instance; chat.broadcasts brings the
    commands. ``holds`` says whether this instance serves a session; ``end``
    closes it (ChatService.end)."""

    def __init__(self, instance: Instance, holds: Callable[[str], bool],
                 end: Callable[[str, CloseReason], Awaitable[None]]) -> None:
        self.instance = instance
        self.holds = holds
        self.end = end

    async def command(self, data: bytes | str) -> None:
        """Carry out one command; a malformed one is logged and dropped."""
        try:
            command = json.loads(data)
            session_id, by = str(command["close"]), str(command.get("by", "?"))
        except (ValueError, KeyError, TypeError):
            logger.warning("%s: dropped a malformed operator command %r", self.instance.name, data)
            return
        if not self.holds(session_id):
            return  # not served here: the backup, or another pair's instance
        try:
            await self.end(session_id, CloseReason.OPERATOR_CLOSED)
        except Exception:
            logger.exception("%s: closing chat session %s for operator %s failed",
                             self.instance.name, session_id, by)
            return
        logger.info("%s: closed chat session %s for operator %s", self.instance.name, session_id, by)
