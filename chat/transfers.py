"""Who an agent may transfer a chat to: the routing rules of a transfer, plain
functions with no I/O (issue 13).

A chat goes only to an agent who is logged in on the serving member (has a
socket here), said it is available, and has fewer open chats than
``agent-capacity``: the same agents the queue would give a waiting chat to, so
a transfer never puts on an agent what routing would not. Anything else is
refused with ``agent-unavailable`` and a message saying why, and nothing is
stored. "Back to the queue with a note" is not a transfer: it is the agent's
``leave`` with a ``note`` (chat.session.ChatSession.leave).

ChatService checks the target and stores the transfer under the queue's
routing lock, so that no routing gives the target a chat between the check
and the store.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .frames import ErrorCode, Out
from .registry import AgentPresence
from .session import ChatError, Participant

# The most agents an ``agents`` answer lists: a desk shows a short list to pick
# from; the least loaded come first.
MAX_LISTED_AGENTS = 100


def can_take(presence: AgentPresence | None, open_chats: int, capacity: int) -> bool:
    """Whether the agent may be given one more chat now."""
    return presence is not None and bool(presence.sockets) and presence.available and open_chats < capacity


def check_target(who: Participant, to_id: str, presence: AgentPresence | None, open_chats: int,
                 capacity: int) -> Participant:
    """The agent ``who`` may transfer a chat to, or ChatError ``agent-unavailable``
    that says why not."""
    if to_id == who.id:
        raise ChatError(ErrorCode.AGENT_UNAVAILABLE, "the chat is yours already: pick another agent")
    if presence is None or not presence.sockets:
        raise ChatError(ErrorCode.AGENT_UNAVAILABLE, "that agent is not logged in on the chat server")
    name = presence.participant.nickname
    if not presence.available:
        raise ChatError(ErrorCode.AGENT_UNAVAILABLE, f"{name} is not available for chats")
    if open_chats >= capacity:
        raise ChatError(ErrorCode.AGENT_UNAVAILABLE,
                        f"{name} has {open_chats} chats, as many as agent-capacity ({capacity}) allows")
    return presence.participant


def targets(who: Participant | None, presences: Iterable[AgentPresence], open_chats: Callable[[str], int],
            capacity: int) -> dict[str, Any]:
    """The ``agents`` frame: who ``who`` could transfer a chat to now, least loaded
    first, then by name; at most MAX_LISTED_AGENTS."""
    listed = sorted(
        ({"id": p.participant.id, "nickname": p.participant.nickname, "chats": open_chats(p.participant.id)}
         for p in presences
         if (who is None or p.participant.id != who.id) and can_take(p, open_chats(p.participant.id), capacity)),
        key=lambda agent: (agent["chats"], agent["nickname"], agent["id"]),
    )
    return {"type": str(Out.AGENTS), "agents": listed[:MAX_LISTED_AGENTS], "capacity": capacity}
