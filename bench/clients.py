"""The client side: chats opened on either path, then the same message exchange.

A path (``ours``, ``baseline``) only knows how to open its chats (a customer
socket and an agent socket that hear each other) and how to end them. The
``Exchange`` is common to both: each customer sends its messages, each with a
client_id, sending the next as soon as its own copy of an earlier one comes
back (the sender's copy is its acknowledgement on both paths), and the
delivery latency of a message is the time from its send to the agent socket
receiving it, matched by client_id. Everything runs in one asyncio loop on
one clock (``time.perf_counter``).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .report import Result
from .stack import Target

logger = logging.getLogger("bench")

# Handshakes in flight at once: 400 at a time would measure daphne's accept
# backlog rather than the chat path, and setup is not what we time.
OPEN_CONCURRENCY = 50

Handler = Callable[[dict[str, Any], float], None]


def _ignore(frame: dict[str, Any], at: float) -> None:
    """The handler of a socket nobody listens to yet."""


class Peer:
    """One websocket and its reader task; each frame goes to ``handler`` with its arrival time."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.handler: Handler = _ignore
        self.closed = False
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str, cookie: tuple[str, str] | None = None) -> Peer:
        origin = url.replace("ws://", "http://", 1).split("/ws/", 1)[0]
        headers = {"Cookie": f"{cookie[0]}={cookie[1]}"} if cookie else None
        ws = await connect(
            url, origin=origin, additional_headers=headers, compression=None,
            ping_interval=None, open_timeout=30, max_queue=None,
        )
        return cls(ws)

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def close(self) -> None:
        await self.ws.close()
        await self._reader

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                at = time.perf_counter()
                try:
                    self.handler(json.loads(raw), at)
                except Exception:
                    logger.exception("could not handle frame %r", raw)
        except ConnectionClosed:
            pass
        finally:
            self.closed = True


@dataclass
class Chats:
    """A path's open chats: customer ``n`` talks to whichever agent socket has its chat."""

    customers: list[Peer]
    agents: list[Peer]

    @property
    def peers(self) -> list[Peer]:
        return [*self.customers, *self.agents]


class ChatPath(Protocol):
    name: str

    async def open(self, chats: int, timeout: float) -> Chats: ...

    async def end(self, chats: Chats) -> None: ...


async def _bounded(calls: Iterable[Callable[[], Awaitable[Peer]]]) -> list[Peer]:
    """Run the openings at most OPEN_CONCURRENCY at a time, in order."""
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)

    async def one(call: Callable[[], Awaitable[Peer]]) -> Peer:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(one(call) for call in calls)))


async def close_all(peers: list[Peer]) -> None:
    await asyncio.gather(*(peer.close() for peer in peers), return_exceptions=True)


class Ours:
    """The chat server's own path: /ws/chat/ customers routed to /ws/agent/ agents."""

    name = "ours"

    def __init__(self, target: Target) -> None:
        self.target = target

    async def open(self, chats: int, timeout: float) -> Chats:
        """Open the chats and return once every one is assigned and every customer's
        socket has finished its ``start`` (the server routes chats inside that call)."""
        assigned: set[str] = set()
        typed: set[str] = set()
        all_assigned = asyncio.Event()
        all_settled = asyncio.Event()

        def on_agent(frame: dict[str, Any], at: float) -> None:
            kind = frame.get("type")
            if kind == "assigned":
                assigned.add(frame["session_id"])
                if len(assigned) >= chats:
                    all_assigned.set()
            elif kind == "typing":
                typed.add(frame["session_id"])
                if len(typed) >= chats:
                    all_settled.set()

        cookies = self.target.agent_cookies
        agents = await _bounded(
            lambda cookie=cookie: Peer.open(f"{self.target.ws}/ws/agent/", (self.target.cookie_name, cookie))
            for cookie in cookies
        )
        for agent in agents:
            agent.handler = on_agent
        await asyncio.gather(*(agent.send({"type": "ready"}) for agent in agents))

        async def customer(n: int) -> Peer:
            peer = await Peer.open(f"{self.target.ws}/ws/chat/")
            await peer.send({"type": "start", "nickname": f"Customer {n}", "subject": self.target.run_id})
            return peer

        customers = await _bounded(lambda n=n: customer(n) for n in range(chats))
        try:
            async with asyncio.timeout(timeout):
                await all_assigned.wait()
                # A socket handles its frames one at a time, so a typing notice reaches
                # the agent only once that customer's ``start`` call has returned: after
                # this, a first message does not wait behind chat routing.
                await asyncio.gather(*(c.send({"type": "typing", "state": False}) for c in customers))
                await all_settled.wait()
        except TimeoutError:
            await close_all([*customers, *agents])
            raise RuntimeError(
                f"within {timeout} s, {len(assigned)} of {chats} chats were assigned "
                f"and {len(typed)} settled"
            ) from None
        return Chats(customers, agents)

    async def end(self, chats: Chats) -> None:
        """Customers leave (the sessions close as a user would close them), then all hang up."""
        await asyncio.gather(*(c.send({"type": "leave"}) for c in chats.customers), return_exceptions=True)
        await close_all(chats.peers)


class Baseline:
    """bench.baseline's group chat: customer ``n`` and agent ``n`` share group ``<run>-<n>``."""

    name = "baseline"

    def __init__(self, target: Target) -> None:
        self.target = target

    async def open(self, chats: int, timeout: float) -> Chats:
        def url(n: int) -> str:
            return f"{self.target.ws}/ws/bench/baseline/?{urlencode({'group': f'{self.target.run_id}-{n}'})}"

        try:
            async with asyncio.timeout(timeout):
                customers = await _bounded(lambda n=n: Peer.open(url(n)) for n in range(chats))
                agents = await _bounded(lambda n=n: Peer.open(url(n)) for n in range(chats))
        except TimeoutError:
            raise RuntimeError(f"could not open {chats} baseline chats within {timeout} s") from None
        return Chats(customers, agents)

    async def end(self, chats: Chats) -> None:
        await close_all(chats.peers)


@dataclass
class Exchange:
    """Every customer sends ``messages`` messages, at most ``window`` unacknowledged."""

    messages: int
    window: int
    text: str
    sent: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    _acks: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    _delivered: set[str] = field(default_factory=set)
    _expected: int = 0
    _last_delivery: float = 0.0
    _all_delivered: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, path: str, chats: Chats, timeout: float) -> Result:
        for customer in chats.customers:
            customer.handler = self._on_customer
        for agent in chats.agents:
            agent.handler = self._on_agent
        self._expected = len(chats.customers) * self.messages
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(self._converse(customer) for customer in chats.customers))
                await self._all_delivered.wait()
        except TimeoutError:
            logger.warning("%s: timed out after %s s with %d of %d messages delivered",
                           path, timeout, len(self._delivered), self._expected)
        for peer in chats.peers:
            peer.handler = _ignore
        return Result(
            path=path,
            chats=len(chats.customers),
            expected=self._expected,
            delivered=len(self._delivered),
            duplicates=self.duplicates,
            errors=len(self.errors),
            dropped=sum(peer.closed for peer in chats.peers),
            seconds=max(self._last_delivery - started, 0.0),
            latencies=self.latencies,
        )

    async def _converse(self, customer: Peer) -> None:
        window = asyncio.Semaphore(self.window)
        loop = asyncio.get_running_loop()
        pending: list[asyncio.Future[None]] = []
        for n in range(self.messages):
            await window.acquire()
            client_id = str(uuid.uuid4())
            ack = loop.create_future()
            ack.add_done_callback(lambda _: window.release())
            self._acks[client_id] = ack
            pending.append(ack)
            self.sent[client_id] = time.perf_counter()
            await customer.send({"type": "message", "text": f"{n} {self.text}", "client_id": client_id})
        await asyncio.gather(*pending)

    def _on_customer(self, frame: dict[str, Any], at: float) -> None:
        kind = frame.get("type")
        if kind == "message":
            ack = self._acks.pop(frame.get("client_id", ""), None)
            if ack is not None and not ack.done():
                ack.set_result(None)
        elif kind == "error":
            self._error(frame)

    def _on_agent(self, frame: dict[str, Any], at: float) -> None:
        kind = frame.get("type")
        if kind == "message":
            client_id = frame.get("client_id", "")
            sent = self.sent.get(client_id)
            if sent is None:
                return
            if client_id in self._delivered:
                self.duplicates += 1
                return
            self._delivered.add(client_id)
            self.latencies.append(at - sent)
            self._last_delivery = at
            if len(self._delivered) == self._expected:
                self._all_delivered.set()
        elif kind == "error":
            self._error(frame)

    def _error(self, frame: dict[str, Any]) -> None:
        if not self.errors:
            logger.warning("first error frame: %s", frame)
        self.errors.append(frame)
