"""Logging out closes the user's agent sockets (issue 9), whichever member served
the logout.

The logout is a Django view, on either member of the pair: chat.identity
forgets the login's cached entry and publishes the login's hash on
``rediskeys.logouts()``. Each instance listens; the serving one holds the
sockets, finds those of that login (Registry.sockets_of_login) and ends them as
a disconnect would (their chats get ``disconnected``, the agent is no longer
routed to), then closes them with 4003 (CLOSE_FORBIDDEN). The desk's reconnect
is then refused, as for no login, and the page goes to the login form.

Pub/sub reaches who listens at the moment. A logout published while nobody
serves (a failover) closes nothing here, and needs not: every socket reconnects
to the new primary and resolves its login again, which is gone. A logout in
the second it takes to subscribe again after a lost Redis connection is
missed: that socket stays until it reconnects (chat.broadcasts logs the gap).
"""
from __future__ import annotations

import logging

from ha.runtime import Instance

from .frames import CLOSE_FORBIDDEN
from .registry import Registry
from .session import ChatError

logger = logging.getLogger(__name__)

class Logouts:
    """What a logout does on an instance (the backup's registry is empty, so it
    closes nothing); chat.broadcasts brings it the logouts."""

    def __init__(self, instance: Instance, registry: Registry) -> None:
        self.instance = instance
        self.registry = registry

    async def message(self, data: bytes) -> None:
        """A logout published on ``rediskeys.logouts()`` (chat.broadcasts)."""
        await self.logged_out(data.decode())

    async def logged_out(self, login: str) -> None:
        """End and close the agent sockets of ``login`` that this instance holds."""
        sockets = self.registry.sockets_of_login(login)
        for socket in sockets:
            try:
                await self.registry.detach(socket)  # the chats see `disconnected`, no more routing
            except ChatError:
                pass  # fenced: the role is being given up, the new primary marks who went
            except Exception:
                logger.exception("telling the chats of a logged-out agent socket that it went away failed")
            try:
                await socket.close(code=CLOSE_FORBIDDEN)
            except Exception:
                logger.debug("socket %r was closed already", socket, exc_info=True)
        if sockets:
            logger.info("%s: closed %d agent sockets of a login that logged out", self.instance.name, len(sockets))
