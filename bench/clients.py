"""The client side: chats opened on either path, then the same message exchange.

A path (``ours``, ``baseline``) only knows how to open its chats (a customer
socket and an agent socket that hear each other) and how to end them. The
``Exchange`` is common to both: each customer sends its messages, each with a
client_id, sending the next as soon as its own copy of an earlier one comes
back (the sender's copy is its acknowledgement on both paths), and the
delivery latency of a message is the time from its send to the agent socket
receiving it, matched by client_id. Everything runs in one asyncio loop on
one clock (``time.perf_counter``).

The failover mode has clients of its own: ``Resilient`` sockets that fail
over as the pages do, and a ``FailoverExchange`` that keeps customers sending
at a steady pace while the caller kills the primary, then checks what every
client saw (lost, duplicated, gaps and conflicts in seq).
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

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


# -- the failover mode ----------------------------------------------------------

# Retries as static/chat/connection.js makes them, so that the server meets
# the load the pages put on it during a takeover: every server of the pair in
# turn, NEXT_IN_ROUND apart, then a pause that doubles from BACKOFF_FIRST up
# to BACKOFF_MAX (under the default 1.5 s lease), with +-20 % jitter so that
# 200 sockets do not knock in step.
NEXT_IN_ROUND_SECONDS = 0.05
BACKOFF_FIRST_SECONDS = 0.25
BACKOFF_MAX_SECONDS = 1.0
# A connection attempt or the first answer that takes longer is given up for the next server.
ATTEMPT_TIMEOUT_SECONDS = 2.0
# An agent that resumes no chat gets no answer to its resume: this much quiet
# after the resume means the instance serves.
QUIET_MEANS_SERVING_SECONDS = 0.5

EventHandler = Callable[["Resilient", dict[str, Any], float], None]


class Resilient:
    """A socket that fails over as the pages do (tests/harness.Participant, in asyncio).

    It knows every server of the pair and tries them in turn, the one a
    ``not-primary`` names first, with a short backoff between rounds. After a
    reconnect it sends its resume frames (the last seq it saw of each session),
    then re-sends, by the same client_id, every message it has not seen come
    back. Its view is every event it got, by session and seq: a seq that comes
    twice is recorded (the same event again is a repeat, another event a
    conflict), never overwritten, so that the checks see what a page would show.
    """

    def __init__(self, name: str, servers: list[str], path: str, cookie: tuple[str, str] | None = None) -> None:
        self.name = name
        self.servers = servers
        self.path = path
        self.cookie = cookie
        self.views: dict[str, dict[int, dict[str, Any]]] = {}
        self.unacked: dict[str, dict[str, Any]] = {}  # client_id -> frame, in send order
        self.resent = 0  # messages sent again after a reconnect (the first copy went to a dead server)
        self.held = 0  # messages typed while no server served, sent after the reconnect
        self._written: set[str] = set()  # client_ids handed to a socket at least once
        self.repeats = 0
        self.conflicts: list[tuple[str, int]] = []
        self.errors: list[dict[str, Any]] = []
        self.reconnects = 0
        self.connected_to = ""
        self.gave_up = False
        self.reconnect_seconds = 60.0  # how long a reconnect keeps trying; the run sets its --timeout
        self.on_event: EventHandler = lambda client, frame, at: None
        self.on_frame: EventHandler = lambda client, frame, at: None
        self.resume_frames: Callable[[], list[dict[str, Any]]] = list
        self._ws: ClientConnection | None = None
        self._live = False  # connected, resumed and caught up: new frames may go out directly
        self._closing = False
        self._hint: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def last_seq(self, session_id: str) -> int:
        return max(self.views.get(session_id, {}), default=0)

    async def connect(self, deadline: float) -> None:
        """Connect to whichever server serves; resume and re-send there. Rounds over the
        pair until ``deadline`` (``time.monotonic``), then ``gave_up``."""
        round_ = 0
        while not self._closing:
            for n, base in enumerate(self._order()):
                if n:
                    await asyncio.sleep(NEXT_IN_ROUND_SECONDS)
                ws = await self._attempt(base)
                if ws is not None:
                    await self._catch_up(ws)
                    return
            if time.monotonic() > deadline:
                self.gave_up = True
                logger.warning("%s: no server of %s served; giving up", self.name, self.servers)
                return
            backoff = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** round_)
            await asyncio.sleep(backoff * (0.8 + random.random() * 0.4))
            round_ += 1

    def _order(self) -> list[str]:
        """The servers, the one a not-primary named first."""
        hint, self._hint = self._hint, None
        if hint is not None and hint in self.servers:
            return [hint, *(base for base in self.servers if base != hint)]
        return list(self.servers)

    async def _attempt(self, base: str) -> ClientConnection | None:
        """A socket to ``base`` that serves, with the resume frames sent; None otherwise."""
        origin = base.replace("ws://", "http://", 1)
        headers = {"Cookie": f"{self.cookie[0]}={self.cookie[1]}"} if self.cookie else None
        try:
            ws = await connect(
                base + self.path, origin=origin, additional_headers=headers, compression=None,
                ping_interval=None, open_timeout=ATTEMPT_TIMEOUT_SECONDS, max_queue=None,
            )
        except (OSError, TimeoutError, InvalidHandshake):
            return None
        frames = self.resume_frames()
        try:
            for frame in frames:
                await ws.send(json.dumps(frame))
            # A backup answers every socket with not-primary at once; a serving
            # instance answers a resume (and nothing else, so silence means serving).
            first = await asyncio.wait_for(ws.recv(), QUIET_MEANS_SERVING_SECONDS if not frames
                                           else ATTEMPT_TIMEOUT_SECONDS)
        except TimeoutError:
            if not frames:
                self.connected_to = base
                return ws
            await ws.close()
            return None
        except ConnectionClosed:
            return None
        frame = json.loads(first)
        if frame.get("type") == "not-primary":
            self._hint = frame.get("primary")
            await ws.close()
            return None
        self.connected_to = base
        self._note(frame, time.perf_counter())
        return ws

    async def _catch_up(self, ws: ClientConnection) -> None:
        """Read on, re-send what was never acknowledged, then let new frames through."""
        self._ws = ws
        task = asyncio.create_task(self._read(ws))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        done: set[str] = set()
        # Until no message is left that this socket has not sent: one the sender adds
        # meanwhile is sent here, and once this loop ends, by the sender itself.
        while pending := [frame for cid, frame in list(self.unacked.items()) if cid not in done]:
            for frame in pending:
                client_id = frame["client_id"]
                done.add(client_id)
                if client_id in self._written:
                    self.resent += 1
                else:
                    self.held += 1
                    self._written.add(client_id)
                try:
                    await ws.send(json.dumps(frame))
                except ConnectionClosed:
                    return  # the reader reconnects
        self._live = True

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                at = time.perf_counter()
                try:
                    self._note(json.loads(raw), at)
                except Exception:
                    logger.exception("%s: could not handle frame %r", self.name, raw)
        except ConnectionClosed:
            pass
        if ws is self._ws:
            self._ws, self._live = None, False
            if not self._closing:
                logger.debug("%s: %s closed the socket (code %s, %r)", self.name, self.connected_to,
                             ws.close_code, ws.close_reason)
                self.reconnects += 1
                await self.connect(time.monotonic() + self.reconnect_seconds)

    async def send(self, frame: dict[str, Any]) -> None:
        """Send now if the socket is up; a message also waits in ``unacked`` for its own copy,
        to be re-sent after a reconnect."""
        if frame.get("type") == "message":
            self.unacked[frame["client_id"]] = frame
        if self._live and self._ws is not None:
            if frame.get("type") == "message":
                self._written.add(frame["client_id"])
            try:
                await self._ws.send(json.dumps(frame))
            except ConnectionClosed:
                pass  # the reader reconnects, and re-sends a message

    def _note(self, frame: dict[str, Any], at: float) -> None:
        session_id, seq = frame.get("session_id"), frame.get("seq")
        if isinstance(seq, int) and session_id is not None:
            view = self.views.setdefault(session_id, {})
            seen = view.get(seq)
            if seen is None:
                view[seq] = frame
                if frame.get("type") == "message":
                    self.unacked.pop(frame.get("client_id", ""), None)
                self.on_event(self, frame, at)
            elif seen == frame:
                self.repeats += 1  # a re-sent message's answer: the original event
            else:
                self.conflicts.append((session_id, seq))
        elif frame.get("type") == "not-primary":
            self._hint = frame.get("primary")
        elif frame.get("type") == "error":
            if not self.errors:
                logger.warning("%s: error frame %s", self.name, frame)
            self.errors.append(frame)
        else:
            self.on_frame(self, frame, at)

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@dataclass
class PairChat:
    """One chat on the pair: its customer, its agent and what the customer sent."""

    session_id: str
    token: str
    customer: Resilient
    agent: Resilient | None = None
    sent: dict[str, float] = field(default_factory=dict)  # client_id -> perf_counter at first send


class FailoverExchange:
    """Chats on a pair, each customer sending at a steady pace while the primary is killed.

    The clients are given the primary's address and learn the backup's from
    /api/ha/topology, as the pages do. ``kill()`` is the caller's (it knows
    the processes); this records, per chat, the first customer message its
    agent gets from the backup after the kill, and at the end checks every view.
    """

    def __init__(self, servers: list[str], target: Target, messages: int, interval: float, text: str) -> None:
        self.servers = servers
        self.backup = servers[1]
        self.target = target
        self.messages = messages
        self.interval = interval
        self.text = text
        self.chats: dict[str, PairChat] = {}
        self.agents: list[Resilient] = []
        self.killed_at: float | None = None
        self.first_delivery: dict[str, float] = {}  # session_id -> seconds after the kill

    async def open(self, chats: int, timeout: float) -> None:
        """Agents ready, customers started, every chat assigned and settled (see Ours.open)."""
        deadline = time.monotonic() + timeout
        started: dict[Resilient, dict[str, Any]] = {}
        held: dict[Resilient, set[str]] = {}
        assigned: dict[str, Resilient] = {}
        typed: set[str] = set()
        progress = asyncio.Event()

        def on_customer(client: Resilient, frame: dict[str, Any], at: float) -> None:
            if frame.get("type") == "started":
                started[client] = frame
                progress.set()

        def on_agent(client: Resilient, frame: dict[str, Any], at: float) -> None:
            kind = frame.get("type")
            if kind == "assigned":
                assigned[frame["session_id"]] = client
                held[client].add(frame["session_id"])
            elif kind == "typing":
                typed.add(frame["session_id"])
            progress.set()

        def agent_resume(client: Resilient) -> Callable[[], list[dict[str, Any]]]:
            return lambda: [
                {"type": "resume", "sessions": {sid: client.last_seq(sid) for sid in held[client]}},
                {"type": "ready"},
            ]

        for n, cookie in enumerate(self.target.agent_cookies):
            agent = Resilient(f"agent {n}", self.servers, "/ws/agent/", (self.target.cookie_name, cookie))
            agent.on_frame = agent.on_event = on_agent
            held[agent] = set()
            self.agents.append(agent)
        await _gather_bounded(agent.connect(deadline) for agent in self.agents)
        for agent in self.agents:
            await agent.send({"type": "ready"})
            agent.resume_frames = agent_resume(agent)

        customers = [Resilient(f"customer {n}", self.servers, "/ws/chat/") for n in range(chats)]
        for customer in customers:
            customer.on_frame = on_customer
        await _gather_bounded(customer.connect(deadline) for customer in customers)
        for n, customer in enumerate(customers):
            await customer.send({"type": "start", "nickname": f"Customer {n}", "subject": self.target.run_id})
        await self._until(lambda: len(started) == chats and len(assigned) == chats, progress, deadline,
                          lambda: f"{len(started)} of {chats} chats started, {len(assigned)} assigned")
        for customer, frame in started.items():
            chat = PairChat(frame["session_id"], frame["token"], customer, assigned[frame["session_id"]])
            self.chats[chat.session_id] = chat
            customer.resume_frames = lambda chat=chat: [{
                "type": "resume", "session_id": chat.session_id, "token": chat.token,
                "last_seq": chat.customer.last_seq(chat.session_id),
            }]
            await customer.send({"type": "typing", "state": False})
        await self._until(lambda: len(typed) == chats, progress, deadline,
                          lambda: f"{len(typed)} of {chats} chats settled")
        for chat in self.chats.values():
            chat.customer.on_frame = _no_frame
            chat.agent.on_frame = chat.agent.on_event = self._on_agent_event
        for client in self.clients:
            client.reconnect_seconds = timeout

    @staticmethod
    async def _until(done: Callable[[], bool], progress: asyncio.Event, deadline: float,
                     state: Callable[[], str]) -> None:
        while not done():
            progress.clear()
            try:
                await asyncio.wait_for(progress.wait(), max(deadline - time.monotonic(), 0))
            except TimeoutError:
                raise RuntimeError(f"opening the chats timed out: {state()}") from None

    @property
    def clients(self) -> list[Resilient]:
        return [*(chat.customer for chat in self.chats.values()), *self.agents]

    async def run(self, timeout: float) -> bool:
        """Every customer sends its messages, then waits until each came back to it and
        reached its agent; False when ``timeout`` cut that short."""
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(self._converse(chat) for chat in self.chats.values()))
                while not self._all_delivered():
                    await asyncio.sleep(0.05)
        except TimeoutError:
            logger.warning("failover: timed out after %s s with messages still missing", timeout)
            return False
        return True

    async def _converse(self, chat: PairChat) -> None:
        """A steady pace, whatever happens to the server: a customer keeps typing."""
        start = time.perf_counter() + random.random() * self.interval
        for n in range(self.messages):
            await asyncio.sleep(max(start + n * self.interval - time.perf_counter(), 0))
            client_id = str(uuid.uuid4())
            chat.sent[client_id] = time.perf_counter()
            await chat.customer.send({"type": "message", "text": f"{n} {self.text}", "client_id": client_id})

    def _all_delivered(self) -> bool:
        return all(
            not chat.customer.unacked and chat.sent.keys() <= _client_ids(chat.agent, chat.session_id)
            for chat in self.chats.values()
        )

    def _on_agent_event(self, agent: Resilient, frame: dict[str, Any], at: float) -> None:
        session_id = frame.get("session_id", "")
        if (self.killed_at is not None and frame.get("type") == "message" and agent.connected_to == self.backup
                and session_id not in self.first_delivery
                and session_id in self.chats and frame.get("client_id") in self.chats[session_id].sent):
            self.first_delivery[session_id] = at - self.killed_at

    def verdict(self) -> dict[str, int]:
        """Counts that must all be 0: lost (a sent client_id missing from the customer's
        or the agent's view), duplicated (a client_id under two seqs of one view), seq
        gaps and conflicts (one seq, two events, in a view or between the two views)."""
        counts = {"lost": 0, "duplicated": 0, "gaps": 0, "conflicts": 0}
        for chat in self.chats.values():
            views = [client.views.get(chat.session_id, {}) for client in (chat.customer, chat.agent)]
            missing: set[str] = set()
            for view in views:
                ids = Counter(e.get("client_id") for e in view.values() if e.get("type") == "message")
                missing |= chat.sent.keys() - ids.keys()
                counts["duplicated"] += sum(n - 1 for client_id, n in ids.items() if client_id in chat.sent)
                counts["gaps"] += max(view, default=0) - len(view)
            counts["lost"] += len(missing)
            ours, theirs = views
            counts["conflicts"] += sum(ours[seq] != theirs[seq] for seq in ours.keys() & theirs.keys())
        counts["conflicts"] += sum(len(client.conflicts) for client in self.clients)
        return counts

    async def end(self) -> None:
        """Customers leave (the sessions close as a user would close them), then all hang up."""
        for chat in self.chats.values():
            await chat.customer.send({"type": "leave"})
        await asyncio.gather(*(client.close() for client in self.clients), return_exceptions=True)


def _no_frame(client: Resilient, frame: dict[str, Any], at: float) -> None:
    """Frames without seq nobody needs after the opening (typing, resumed, assigned)."""


def _client_ids(client: Resilient | None, session_id: str) -> set[str]:
    view = client.views.get(session_id, {}) if client is not None else {}
    return {e.get("client_id", "") for e in view.values() if e.get("type") == "message"}


async def _gather_bounded(calls: Iterable[Awaitable[None]]) -> None:
    """Await the calls at most OPEN_CONCURRENCY at a time."""
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)

    async def one(call: Awaitable[None]) -> None:
        async with gate:
            await call

    await asyncio.gather(*(one(call) for call in calls))
