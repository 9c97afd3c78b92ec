"""Background work of a serving instance, on a fixed pace (chat.sweeper's
deadlines, chat.queue's places)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ha.runtime import Instance

from .session import ChatError

logger = logging.getLogger(__name__)


async def while_serving(instance: Instance, interval_s: float, work: Callable[[], Awaitable[None]], what: str) -> None:
    """Run ``work`` every ``interval_s`` for as long as the process runs, whenever
    ``instance`` serves. A failure is logged and the next round goes on; a refused
    write (ChatError: the role is being given up) is no failure."""
    while True:
        await asyncio.sleep(interval_s)
        if not instance.serving:
            continue
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except ChatError:
            continue
        except Exception:
            logger.exception("%s failed", what)
