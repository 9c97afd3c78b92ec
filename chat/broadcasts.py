"""What one member tells the serving one over Redis pub/sub: a logout
(chat.logouts), an operator's close (chat.operator).

A Django view runs on either member, but the sockets and the open sessions are
on the serving one: the view publishes on a channel, and every instance
listens on one pub/sub connection for all the channels, for as long as the
process runs (a backup holds nothing, so it acts on nothing). Pub/sub reaches
who listens at the moment: what is published while the connection is being
made again (a Redis blip, a Redis failover) is missed, and each handler says
what that costs.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ha.runtime import Instance

logger = logging.getLogger(__name__)

# The pause before subscribing again after the subscription failed: Redis is
# likely away for a moment, and the lease (which needs it too) decides the rest.
RESUBSCRIBE_DELAY_S = 1.0

Handler = Callable[[bytes], Awaitable[None]]


class Broadcasts:
    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self._handlers: dict[str, Handler] = {}

    def on(self, channel: str, handler: Handler) -> None:
        """Call ``handler`` with the data of each message on ``channel``."""
        self._handlers[channel] = handler

    async def run(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s: listening on %s failed; what is published until the next try is "
                                 "missed", self.instance.name, ", ".join(self._handlers))
            await asyncio.sleep(RESUBSCRIBE_DELAY_S)

    async def _listen(self) -> None:
        pubsub = self.instance.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(*self._handlers)
            async for message in pubsub.listen():
                if message["type"] != "message":
                    continue
                channel = message["channel"]
                channel = channel.decode() if isinstance(channel, bytes) else channel
                try:
                    await self._handlers[channel](message["data"])
                except Exception:  # one bad message must not cost the others the subscription
                    logger.exception("%s: acting on a message on %s failed", self.instance.name, channel)
        finally:
            await pubsub.aclose()
