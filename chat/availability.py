"""Whether anybody is there for a new chat: what the customer page asks before it
starts one (``GET /api/chat/availability``), so that it can offer to leave a
message instead (the offline path, issue 13).

Nobody is there outside ``opening-hours``, when no agent is logged in and
available, or when the queue is at ``queue-max-waiting``. Who is available is
known only to the serving member (chat.registry, in memory); it writes a small
summary to Redis once a second (``Presence``), and the view on either member
reads it, so the page may ask whichever member served it. The summary expires
after a few seconds: a pair with no serving member has nobody there.

``verdict`` is the rule, with no I/O.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import redis.asyncio as redis

from chatsite import rediskeys
from ha.runtime import Instance

from .frames import ErrorCode
from .messages import Messages
from .opening_hours import OpeningHours
from .periodic import while_serving
from .queue import ChatQueue
from .registry import Registry
from .session import ChatError

# How often the serving member writes its summary, and how long one lives: long
# enough to outlast a failover (about a second), short enough that a pair with
# nobody serving is soon shown as such.
PRESENCE_INTERVAL_S = 1.0
PRESENCE_TTL_MS = 5000


class Absence(StrEnum):
    """Why nobody is there (the endpoint's ``reason``)."""

    CLOSED = "closed"  # outside opening-hours
    NO_AGENT = "no-agent"  # no agent logged in and available, or no member serving
    BUSY = "busy"  # queue-max-waiting chats wait already


@dataclass(frozen=True)
class Summary:
    """What the serving member knows that the page needs: agents available, chats
    waiting, and the estimated wait of a chat started now (chat.wait_estimate; None
    with no basis)."""

    agents: int
    waiting: int
    estimated_wait_s: int | None = None

    def dumps(self) -> str:
        return json.dumps({"agents": self.agents, "waiting": self.waiting, "estimated_wait_s": self.estimated_wait_s})

    @classmethod
    def loads(cls, raw: str | bytes | None) -> Summary | None:
        if raw is None:
            return None
        data = json.loads(raw)
        estimate = data.get("estimated_wait_s")
        return cls(int(data["agents"]), int(data["waiting"]), None if estimate is None else int(estimate))


def in_opening_hours(settings: Mapping[str, Any], now: datetime | None = None) -> bool:
    hours: OpeningHours = settings["opening-hours"]
    return hours.is_open(now or datetime.now(UTC), settings["time-zone"])


def verdict(open_hours: bool, summary: Summary | None, max_waiting: int) -> Absence | None:
    """Why nobody is there, or None when a chat started now would reach an agent's queue."""
    if not open_hours:
        return Absence.CLOSED
    if summary is None or summary.agents == 0:
        return Absence.NO_AGENT
    if summary.waiting >= max_waiting:
        return Absence.BUSY
    return None


def answer(settings: Mapping[str, Any], summary: Summary | None, now: datetime | None = None) -> dict[str, Any]:
    """The endpoint's JSON (docs/protocol.md, "Nobody there")."""
    absence = verdict(in_opening_hours(settings, now), summary, settings["queue-max-waiting"])
    return {
        "available": absence is None,
        "reason": None if absence is None else str(absence),
        "agents": summary.agents if summary else 0,
        "waiting": summary.waiting if summary else 0,
        "expected_wait_s": summary.estimated_wait_s if absence is None and summary else None,
    }


def check_start(settings: Mapping[str, Any]) -> None:
    """A start outside opening hours is refused (error ``closed``); the page offers the
    offline form instead. No agent yet is no reason to refuse: one may come, and
    queue-timeout ends a wait that nobody answers."""
    if not in_opening_hours(settings):
        raise ChatError(ErrorCode.CLOSED, "nobody is there outside the opening hours (opening-hours): "
                        "leave a message instead")


async def read(client: redis.Redis, pair: str) -> Summary | None:
    """The serving member's last summary; None when there is none (nobody serves)."""
    return Summary.loads(await client.get(rediskeys.pair_presence(pair)))


class Presence:
    """The serving member's side: the summary in Redis, once a second."""

    def __init__(self, instance: Instance, registry: Registry, messages: Messages, queue: ChatQueue) -> None:
        self.instance = instance
        self.registry = registry
        self.messages = messages
        self.queue = queue

    def summary(self) -> Summary:
        return Summary(self.registry.available_count(), len(self.messages.waiting), self.queue.new_chat_wait_s())

    async def publish(self) -> None:
        await self.instance.redis.set(rediskeys.pair_presence(self.instance.pair), self.summary().dumps(),
                                      px=PRESENCE_TTL_MS)

    async def run(self) -> None:
        await while_serving(self.instance, PRESENCE_INTERVAL_S, self.publish, "publishing who is there")
