"""Who waits for an agent and in which place; who has how many chats. Plain data,
no I/O: chat.messages keeps both up to date from every session it folds, and
chat.queue reads them to route.

The line is ordered by arrival at the back of the queue (a new chat, or a chat
its agent left). Adding, removing and finding a place cost O(log n) (a sorted
list of tickets and a bisection), so a queue thousands deep costs no more per
change than a short one. The pair's queue in Redis (a sorted set, written by
the live log's script) keeps the same order for the next primary: the line
takes each chat's rank from it (``Stored.queue_rank``) rather than the order
in which the appends' answers came back, which two batches in flight can swap.

Positions go to the waiting customers as ephemeral frames, at most one a
second each and only when a place moved (``PositionNotices``), instead of an
event stored in every waiting chat each time the head of the queue moves.
"""
from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterator

from .session import ChatSession, Status

# A waiting customer hears of its new place at most this often.
POSITION_NOTICE_INTERVAL_S = 1.0


class WaitingLine:
    def __init__(self) -> None:
        self._ticket_of: dict[str, float] = {}
        self._session_of: dict[float, str] = {}
        self._order: list[float] = []  # the tickets (ranks) of the line, ascending
        self.changed = False  # someone's place may have moved since PositionNotices looked
        self.arrivals: list[str] = []  # joined since the queue last announced them

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._ticket_of

    def __iter__(self) -> Iterator[str]:
        """The waiting sessions, first in line first."""
        return (self._session_of[ticket] for ticket in list(self._order))

    def first(self) -> str | None:
        return self._session_of[self._order[0]] if self._order else None

    def position(self, session_id: str) -> int | None:
        """The session's place, from 1; None when it does not wait."""
        ticket = self._ticket_of.get(session_id)
        return None if ticket is None else bisect.bisect_left(self._order, ticket) + 1

    def join(self, session_id: str, rank: float | None = None) -> None:
        """Into the line at ``rank``, the place the pair's queue in Redis gave it
        (``Stored.queue_rank``): concurrent appends may come back in another order
        than Redis ran them, and the line must be Redis's, which the next primary
        restores. Without a rank, at the back. Almost always an append."""
        if session_id in self._ticket_of:
            return
        last = self._order[-1] if self._order else 0
        ticket = rank if rank is not None else last + 1
        if ticket in self._session_of:  # a rank met twice cannot happen in Redis; stay apart
            ticket = last + 1
        self._ticket_of[session_id] = ticket
        self._session_of[ticket] = session_id
        bisect.insort(self._order, ticket)
        self.arrivals.append(session_id)

    def take_arrivals(self) -> list[str]:
        """Who joined since the last call, in order."""
        arrivals, self.arrivals = self.arrivals, []
        return arrivals

    def put_back_arrivals(self, session_ids: list[str]) -> None:
        """Arrivals taken but not announced (a store failed): first next time."""
        self.arrivals[:0] = session_ids

    def leave(self, session_id: str) -> None:
        ticket = self._ticket_of.pop(session_id, None)
        if ticket is None:
            return
        del self._session_of[ticket]
        del self._order[bisect.bisect_left(self._order, ticket)]
        self.changed = True  # everyone behind moved up

    def clear(self) -> None:
        self._ticket_of.clear()
        self._session_of.clear()
        self._order.clear()
        self.arrivals.clear()
        self.changed = True


class AgentLoads:
    """How many open chats each agent has, counted as sessions change hands."""

    def __init__(self) -> None:
        self._agent_of: dict[str, str] = {}  # session id -> its agent's participant id
        self._chats: Counter[str] = Counter()
        self.changed: set[str] = set()  # agents whose count moved since the queue looked

    def __getitem__(self, agent_id: str) -> int:
        return self._chats[agent_id]

    def track(self, session: ChatSession) -> None:
        now = session.agent.id if session.is_open and session.agent is not None else None
        before = self._agent_of.get(session.id)
        if now == before:
            return
        self.changed.update(agent for agent in (before, now) if agent is not None)
        if before is not None:
            self._chats[before] -= 1
            if not self._chats[before]:
                del self._chats[before]
            del self._agent_of[session.id]
        if now is not None:
            self._chats[now] += 1
            self._agent_of[session.id] = now

    def take_changed(self) -> set[str]:
        changed, self.changed = self.changed, set()
        return changed

    def clear(self) -> None:
        self.changed.update(self._chats)
        self._agent_of.clear()
        self._chats.clear()


def waits(session: ChatSession) -> bool:
    return session.is_open and session.status is Status.QUEUED


class PositionNotices:
    """Which waiting customers to tell their place now: those whose place (or
    estimated wait, chat.wait_estimate) moved since they were last told, at most
    once per POSITION_NOTICE_INTERVAL_S."""

    def __init__(self) -> None:
        # session id -> (place told, estimate told, when)
        self._told: dict[str, tuple[int, int | None, float]] = {}

    def told(self, session_id: str, position: int, now: float, estimate: int | None = None) -> None:
        self._told[session_id] = (position, estimate, now)

    def due(self, line: WaitingLine, now: float,
            estimate: Callable[[int], int | None] = lambda position: None) -> tuple[list[tuple[str, int]], bool]:
        """(session id, place) to send now, first in line first, and whether some
        moved but were told too recently (to look again); forgets who left.
        ``estimate`` gives the estimated wait of a place."""
        due, more = [], False
        for position, session_id in enumerate(line, start=1):
            told = self._told.get(session_id)
            if told is not None and told[:2] == (position, estimate(position)):
                continue
            if told is None or now - told[2] >= POSITION_NOTICE_INTERVAL_S:
                due.append((session_id, position))
            else:
                more = True
        if len(self._told) > len(line):
            self._told = {sid: told for sid, told in self._told.items() if sid in line}
        return due, more
