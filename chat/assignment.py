"""Which available agent gets the next waiting chat: fewest open chats first,
then the one who has waited longest; nobody beyond the capacity option. A chat
an agent handed back to the queue goes to another agent when one has room, and
back to that agent only rather than wait (``avoid``)."""
from __future__ import annotations

import heapq


class AgentPicker:
    """The rule above in O(log n) for thousands of agents: the available agents in
    a heap by (open chats, ready since), told of every change (``update``). Entries
    of a key that changed since are dropped when they come to the top."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, float, str]] = []
        self._key: dict[str, tuple[int, float]] = {}  # available agent -> its key now

    def update(self, agent_id: str, open_chats: int, ready_since: float | None) -> None:
        """``ready_since`` None: the agent is not available."""
        if ready_since is None:
            self._key.pop(agent_id, None)
            return
        key = (open_chats, ready_since)
        if self._key.get(agent_id) != key:
            self._key[agent_id] = key
            heapq.heappush(self._heap, (open_chats, ready_since, agent_id))
        if len(self._heap) > 4 * len(self._key) + 64:  # mostly stale entries: start over
            self._heap = [(*key, agent) for agent, key in self._key.items()]
            heapq.heapify(self._heap)

    def pick(self, capacity: int, avoid: str | None = None) -> str | None:
        """The agent for the next waiting chat, without taking it off; None when no
        available agent has fewer than ``capacity`` chats. ``avoid`` (the agent who
        handed the chat back to the queue) gets it only when nobody else has room."""
        top = self._top(capacity)
        if top is None or top != avoid:
            return top
        entry = heapq.heappop(self._heap)  # look past it, then put it back: O(log n)
        try:
            other = self._top(capacity)
        finally:
            heapq.heappush(self._heap, entry)
        return other if other is not None else top

    def _top(self, capacity: int) -> str | None:
        while self._heap:
            open_chats, ready_since, agent_id = self._heap[0]
            if self._key.get(agent_id) != (open_chats, ready_since):
                heapq.heappop(self._heap)
                continue
            return agent_id if open_chats < capacity else None
        return None
