"""When each open session next needs a look from the sweeper (an idle chat, a
participant who never came back): a heap of deadlines, so that a quiet second
with ten thousand open chats costs nothing, instead of a walk over them all.

Each session has at most one deadline that counts, its earliest. A deadline
that moved later (a new message) is not looked for in the heap: the old entry
comes due, the sweeper finds nothing to do, and sets the next one. One that
moved earlier (a participant went away) is pushed at once.
"""
from __future__ import annotations

import heapq
import math

from ha.options import Settings

from .session import ChatSession, Inactivity


class Deadlines:
    def __init__(self) -> None:
        self._heap: list[tuple[float, str]] = []
        self._next: dict[str, float] = {}  # session id -> its earliest deadline in the heap

    def __len__(self) -> int:
        return len(self._next)

    def schedule(self, session_id: str, when: float | None) -> None:
        """``session_id`` needs a look at ``when``; None: no deadline now (a closed
        session), and its entry in the heap is ignored when it comes up."""
        if when is None:
            self._next.pop(session_id, None)
            return
        if when < self._next.get(session_id, math.inf):
            self._next[session_id] = when
            heapq.heappush(self._heap, (when, session_id))

    def due(self, now: float) -> list[str]:
        """The sessions whose deadline has come, each once; they are forgotten until
        ``schedule``d again."""
        due = []
        while self._heap and self._heap[0][0] <= now:
            when, session_id = heapq.heappop(self._heap)
            if self._next.get(session_id) == when:
                del self._next[session_id]
                due.append(session_id)
        return due

    def clear(self) -> None:
        self._heap.clear()
        self._next.clear()


# A participant a switchover handed to us follows the old primary's hint within
# a second; one not here after this long closed its page meanwhile, and is
# marked disconnected (then participant-return-timeout runs as after a drop).
SWITCHOVER_FOLLOW_S = 10.0


def inactivity_of(settings: Settings) -> Inactivity | None:
    """Genesys' inactivity-control as the options set it; None while it is off."""
    if not settings["inactivity-control-enabled"]:
        return None
    return Inactivity(settings["inactivity-timeout-alert"], settings["inactivity-timeout-close"],
                      settings["inactivity-include-notices"])


def deadline_of(session: ChatSession, settings: Settings) -> float | None:
    """When the sweeper must next look at ``session`` under these options."""
    return session.next_deadline(settings["session-inactivity-timeout"], settings["participant-return-timeout"],
                                 SWITCHOVER_FOLLOW_S, inactivity_of(settings), settings["queue-timeout"])
