"""Which available agent gets the next waiting chat: fewest open chats first,
then the one who has waited longest; nobody beyond the capacity option."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class AgentLoad:
    participant_id: str
    open_chats: int
    ready_since: float


def pick_agent(agents: Iterable[AgentLoad], capacity: int) -> str | None:
    candidates = [agent for agent in agents if agent.open_chats < capacity]
    if not candidates:
        return None
    return min(candidates, key=lambda agent: (agent.open_chats, agent.ready_since)).participant_id
