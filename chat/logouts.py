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
missed: that socket stays until it reconnects (logged below).
"""
from __future__ import annotations

import asyncio
import logging

from chatsite import rediskeys
from ha.runtime import Instance

from .frames import CLOSE_FORBIDDEN
from .registry import Registry
from .session import ChatError

logger = logging.getLogger(__name__)

# The pause before subscribing again after the subscription failed: Redis is
# likely away for a moment, and the lease (which needs it too) decides the rest.
RESUBSCRIBE_DELAY_S = 1.0


class Logouts:
    """The listener: one Redis pub/sub connection per instance, for as long as the
    process runs (the backup's registry is empty, so it closes nothing)."""

    def __init__(self, instance: Instance, registry: Registry) -> None:
        self.instance = instance
        self.registry = registry

    async def run(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s: listening for logouts failed; a logout until the next try is missed"
                                 " (its sockets close when they reconnect)", self.instance.name)
            await asyncio.sleep(RESUBSCRIBE_DELAY_S)

    async def _listen(self) -> None:
        pubsub = self.instance.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(rediskeys.logouts())
            async for message in pubsub.listen():
                if message["type"] == "message":
                    await self.logged_out(message["data"].decode())
        finally:
            await pubsub.aclose()

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
