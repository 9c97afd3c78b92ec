"""Work that runs to its end even when the task that asked for it is cancelled.

Daphne cancels the handler of a socket that closed once
``application_close_timeout`` has passed (every socket, not only at a stop). A
handler cancelled in the middle of a write would leave the live log and memory
apart: the append reached Redis, but the event was never folded into its
session, nor the agent's count, nor the waiting line. And a handler that routes
the queue for everyone (a customer's ``start``) would leave the rest of the
queue unrouted. So such work runs in a task of its own that the caller waits
for; a cancelled caller still waits for it to end, then takes its cancellation.
"""
from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def finish(work: Coroutine[Any, Any, T]) -> T:
    """``await work``, but a cancellation of the caller waits for ``work`` to end."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                continue  # cancelled again: still wait, the write must not be cut
            except Exception:
                break  # its own failure: the caller was cancelled, and that is what it hears
        raise
