"""The chat side in-process, against real Redis: a stand-in for the HA instance
and for websocket consumers, for tests about chat internals, not processes."""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as redis

from chat.livelog import LiveLog, OpenSet, Queue
from chat.service import ChatService
from chat.session import ChatSession, Participant
from chatsite import rediskeys
from ha import options

ALICE = Participant.agent(1, "Alice")


class StandInInstance:
    """What the chat side may use of ha.runtime.Instance, with no lease: the
    epoch is set by the test, and a fenced write is only recorded."""

    def __init__(self, client: redis.Redis, pair: str, epoch: int, **stored: str) -> None:
        self.redis = client
        self.pair = pair
        self.name = f"{pair}-a"
        self.settings = options.Settings(stored)
        self.epoch = epoch
        self.listener: Any = None
        self.fenced_at: list[int] = []

    @property
    def serving(self) -> bool:
        return not self.fenced_at

    @property
    def write_epoch(self) -> int | None:
        """The test's epoch, as if the lease were held (the fence is tested, not the clock)."""
        return self.epoch

    def primary_hint(self) -> str | None:
        return None

    async def until_serving(self, arrived: float, hold_s: float) -> bool:
        return self.serving

    async def write_refused(self, pair_epoch: int) -> None:
        self.fenced_at.append(pair_epoch)


class FakeSocket:
    """A consumer's side of a connection that keeps what it is sent; a broken one
    fails every send."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.broken = False
        self.closed: int | None = None

    async def deliver(self, frame: dict[str, Any]) -> None:
        await self.send_text(json.dumps(frame))

    async def send_text(self, text: str) -> None:
        if self.broken:
            raise ConnectionResetError("the peer is gone")
        self.frames.append(json.loads(text))

    async def drop(self, frame: dict[str, Any], code: int) -> None:
        await self.deliver(frame)
        await self.close(code)

    async def close(self, code: int | None = None) -> None:
        self.closed = code

    def got(self, **match: Any) -> list[dict[str, Any]]:
        return [f for f in self.frames if all(f.get(k) == v for k, v in match.items())]


def new_pair() -> str:
    return f"pair-{uuid.uuid4().hex[:8]}"


def client(redis_url: str) -> redis.Redis:
    """An async client for the running event loop."""
    return redis.Redis.from_url(redis_url)


async def set_epoch(client: redis.Redis, pair: str, epoch: int) -> None:
    await client.set(rediskeys.pair_epoch(pair), epoch)


async def open_session(log: LiveLog, epoch: int, *, agent: Participant | None = None,
                       customer_away: bool = False) -> ChatSession:
    """A chat written to the live log one event at a time, as a primary writes it."""
    session, _ = ChatSession.open(uuid.uuid4().hex, log.pair, "Carol", "billing")

    async def store(event: dict[str, Any], **appending: Any) -> None:
        session.apply((await log.append(epoch, event, **appending)).event)

    await store(session.joined(session.customer), open_set=OpenSet.OPEN, queue=Queue.PUSH, facts=session.facts())
    if agent is not None:
        await store(session.joined(agent), queue=Queue.REMOVE)
        await store(session.message(agent, "how can I help?", "", 1000))
    if customer_away:
        await store(session.disconnected(session.customer))
    return session


async def until(predicate: Callable[[], Any], what: str, timeout: float = 5) -> Any:
    """Let the event loop run until ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)
    return value


def with_live_log(redis_url: str, scenario: Callable[[redis.Redis, LiveLog], Awaitable[None]],
                  epoch: int = 1) -> None:
    """Run ``scenario(redis, log)`` on a fresh pair at ``epoch``, closing the client after."""

    async def run() -> None:
        client_ = client(redis_url)
        pair = new_pair()
        await set_epoch(client_, pair, epoch)
        try:
            await scenario(client_, LiveLog(client_, pair))
        finally:
            await client_.aclose()

    asyncio.run(run())


def with_chat_service(redis_url: str, scenario: Callable[[ChatService], Awaitable[None]], *,
                      epoch: int = 1, **stored: str) -> None:
    """Run ``scenario(chats)``: a chat service on a fresh pair at ``epoch``, its
    instance a StandInInstance with these options; the client closed after."""

    async def run() -> None:
        client_ = client(redis_url)
        pair = new_pair()
        await set_epoch(client_, pair, epoch)
        try:
            await scenario(ChatService(StandInInstance(client_, pair, epoch, **stored)))
        finally:
            await client_.aclose()

    asyncio.run(run())
