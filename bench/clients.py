"""The client side: chats opened on either path, then the same message exchange.

A path (``ours``, ``baseline``) only knows how to open its chats (a customer
socket and an agent socket that hear each other) and how to end them. The
``Exchange`` is common to both: each customer sends its messages, each with a
client_id, sending the next as soon as its own copy of an earlier one comes
back (the sender's copy is its acknowledgement on both paths), and the
delivery latency of a message is the time from its send to the agent socket
receiving it, matched by client_id. Everything runs in one asyncio loop on
one clock (``time.perf_counter``).

With --rate the exchange is an ``OpenLoopExchange`` instead: each customer
sends on a fixed schedule whatever comes back, and a latency runs from the
scheduled send, so that a server that queues cannot slow the senders down
and hide its queue (coordinated omission).

The failover mode has clients of its own: ``Resilient`` sockets that fail
over as the pages do, and a ``FailoverExchange`` that keeps customers sending
on a schedule while the caller kills (or stops) the serving member, as many
times as asked, then checks what every client saw (lost, duplicated, gaps and
conflicts in seq).
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from .report import Result
from .stack import Target, local_ws

logger = logging.getLogger("bench")

# Every connect passes proxy=None: websockets otherwise reads the proxy settings
# from the whole environment on each connect, which was a quarter of the load
# generator's time while 2,000 sockets reconnected at once.

# Handshakes in flight at once while the chats open: half of daphne's listen
# backlog (twisted's default, 50), so that a slow accept loop on a 2-core
# machine queues connections in the kernel instead of dropping SYNs (a dropped
# SYN costs a 1 s, then 3 s retransmit); setup is not what we time.
OPEN_CONCURRENCY = 25
# One handshake while the chats open: 2,000 sockets knocking at a server that is
# also routing chats take seconds each, not the 2 s of a failover attempt.
OPEN_TIMEOUT_SECONDS = 60
# A handshake of the opening that fails or times out is tried this often in all,
# this far apart: one slow accept should not cost a 1,000-chat run.
OPEN_ATTEMPTS = 3
OPEN_RETRY_PAUSE_SECONDS = 1.0
# The opening of the failover mode (sockets, routing, settling) may take this
# long per chat, or --timeout if that is longer: 200 s for 1,000 chats. 20-30
# chats open in 0.04-0.06 s a chat on a 2-core machine, most of it the half
# second a new socket waits to hear that it is on a serving member, which the
# sockets wait side by side: only a stuck opening is cut.
OPEN_SECONDS_PER_CHAT = 0.2

Handler = Callable[[dict[str, Any], float], None]


def _ignore(frame: dict[str, Any], at: float) -> None:
    """The handler of a socket nobody listens to yet."""


class Peer:
    """One websocket and its reader task; each frame goes to ``handler`` with its arrival time."""

    def __init__(self, ws: ClientConnection, attempts: int = 1) -> None:
        self.ws = ws
        self.attempts = attempts  # handshakes it took to open
        self.handler: Handler = _ignore
        self.closed = False
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str, cookie: tuple[str, str] | None = None, *, source: str | None = None) -> Peer:
        """A socket to ``url``, from the local address ``source`` (None: the kernel's
        choice). A handshake that fails or times out is tried again (OPEN_ATTEMPTS
        in all): opening is set-up, not measured."""
        origin = url.replace("ws://", "http://", 1).split("/ws/", 1)[0]
        headers = {"Cookie": f"{cookie[0]}={cookie[1]}"} if cookie else None
        local = {"local_addr": (source, 0)} if source is not None else {}
        attempt = 1
        while True:
            try:
                ws = await connect(
                    url, origin=origin, additional_headers=headers, compression=None,
                    ping_interval=None, open_timeout=OPEN_TIMEOUT_SECONDS, max_queue=None, proxy=None, **local,
                )
            except (OSError, TimeoutError, InvalidHandshake) as error:
                if attempt >= OPEN_ATTEMPTS:
                    raise
                logger.warning("opening %s from %s failed (attempt %d: %r); trying again", url,
                               source or "127.0.0.1", attempt, error)
                attempt += 1
                await asyncio.sleep(OPEN_RETRY_PAUSE_SECONDS)
            else:
                return cls(ws, attempt)

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


async def open_bounded(calls: Iterable[Callable[[], Awaitable[Peer]]]) -> list[Peer]:
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

    async def open(self, chats: int, timeout: float, *, sources: Sequence[str | None] = (None,),
                   on_error: Callable[[dict[str, Any], str], None] | None = None) -> Chats:
        """Open the chats and return once every one is assigned and every customer's
        socket has finished its ``start`` (the server routes chats inside that call).
        The sockets go from the local addresses ``sources`` in turn; ``on_error``
        hears each error frame and whose socket got it."""
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
            elif kind == "error" and on_error is not None:
                on_error(frame, "agent")

        def on_customer(frame: dict[str, Any], at: float) -> None:
            if frame.get("type") == "error" and on_error is not None:
                on_error(frame, "customer")

        def source(n: int) -> str | None:
            return sources[n % len(sources)]

        cookies = self.target.agent_cookies
        agents = await open_bounded(
            lambda n=n, cookie=cookie: Peer.open(f"{self.target.ws}/ws/agent/", (self.target.cookie_name, cookie),
                                                 source=source(n))
            for n, cookie in enumerate(cookies)
        )
        for agent in agents:
            agent.handler = on_agent
        await asyncio.gather(*(agent.send({"type": "ready"}) for agent in agents))

        async def customer(n: int) -> Peer:
            peer = await Peer.open(f"{self.target.ws}/ws/chat/", source=source(chats + n))
            peer.handler = on_customer
            await peer.send({"type": "start", "nickname": f"Customer {n}", "subject": self.target.run_id})
            return peer

        customers = await open_bounded(lambda n=n: customer(n) for n in range(chats))
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
                customers = await open_bounded(lambda n=n: Peer.open(url(n)) for n in range(chats))
                agents = await open_bounded(lambda n=n: Peer.open(url(n)) for n in range(chats))
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


@dataclass
class OpenLoopExchange(Exchange):
    """Every customer sends ``messages`` messages at ``rate`` a second, on a schedule.

    Customer ``c`` sends message ``n`` at ``start + phase_c + n / rate``, with
    ``phase_c`` drawn from [0, 1 / rate) so that the load is spread over each
    second, whether or not its earlier messages came back (open loop). The
    latency of a message runs from its scheduled time, not from when the send
    went out: a server that queues then shows its queue in the latency instead
    of slowing the senders down (coordinated omission). ``window`` is unused.
    """

    rate: float = 1.0
    send_lags: list[float] = field(default_factory=list)

    async def run(self, path: str, chats: Chats, timeout: float) -> Result:
        # The schedule is longer than the closed loop's exchange: the cut is after it.
        result = await super().run(path, chats, timeout + self.messages / self.rate)
        result.send_lags = self.send_lags
        return result

    async def _converse(self, customer: Peer) -> None:
        start = time.perf_counter() + random.random() / self.rate
        for n in range(self.messages):
            scheduled = start + n / self.rate
            await asyncio.sleep(max(scheduled - time.perf_counter(), 0))
            client_id = str(uuid.uuid4())
            self.sent[client_id] = scheduled
            self.send_lags.append(time.perf_counter() - scheduled)
            try:
                await customer.send({"type": "message", "text": f"{n} {self.text}", "client_id": client_id})
            except ConnectionClosed:
                # The server dropped this socket (counted as dropped); its messages are lost.
                return


# -- the failover mode ----------------------------------------------------------

# Retries as static/chat/connection.js makes them, so that the server meets
# the load the pages put on it during a takeover: every server of the pair in
# turn, NEXT_IN_ROUND apart, then a pause that doubles from BACKOFF_FIRST up
# to BACKOFF_MAX (under the default 1.5 s lease), with +-20 % jitter so that
# 200 sockets do not knock in step.
NEXT_IN_ROUND_SECONDS = 0.05
# After an `unavailable` error, the unacknowledged messages go again this much later.
UNAVAILABLE_RETRY_SECONDS = 0.5
BACKOFF_FIRST_SECONDS = 0.25
BACKOFF_MAX_SECONDS = 1.0
# A page waits for a handshake and then for the answer to its resume as long as
# the connection stays open: a member that is taking over holds the socket until
# it serves, and a busy one answers late (a member that is down refuses at once).
# Giving up sooner, as this bench once did after 2 s, turns a slow takeover into
# a reconnect spiral that no page would cause. The bench stops waiting after
# this long so that a hung server shows.
ANSWER_TIMEOUT_SECONDS = 30.0
ATTEMPT_TIMEOUT_SECONDS = ANSWER_TIMEOUT_SECONDS
# An agent that resumes no chat gets no answer to its resume: this much quiet
# after the resume means the instance serves.
QUIET_MEANS_SERVING_SECONDS = 0.5
# A standby socket (docs/protocol.md, "Standby sockets") to the other member, kept
# as the pages keep one: once its socket to the primary drops, a client sends its
# resume on the standby, so that a takeover costs it no handshake. A standby that
# could not be opened (the member is down) is tried again after a pause that doubles
# from STANDBY_RETRY_FIRST up to STANDBY_RETRY_MAX.
STANDBY_QUERY = "?standby=1"
STANDBY_RETRY_FIRST_SECONDS = 1.0
STANDBY_RETRY_MAX_SECONDS = 8.0
# After its socket dropped, a client opens its next standby (to the member that
# dropped it, which is down or restarting) only this long after, drawn at random
# in the range, as the pages do: knocking at once costs a thousand clients' CPU in
# the first second of the takeover, and meets a restarted member all at once.
STANDBY_AFTER_LOSS_SECONDS = (2.0, 6.0)

# A hand-over's messages, for the planned stop's "own copy" wait and for the
# latency outside the hand-overs: those sent from this long before the signal
# (a message sent just before it may be caught in the drain) until every chat
# delivered through the new primary.
HAND_OVER_LEAD_SECONDS = 1.0

EventHandler = Callable[["Resilient", dict[str, Any], float], None]


class Resilient:
    """A socket that fails over as the pages do (tests/harness.Participant, in asyncio).

    It knows every server of the pair and tries them in turn, the one a
    ``not-primary`` or a ``switchover`` notice names first (as
    static/chat/connection.js does), with a short backoff between rounds. After a
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
        self.unavailable = 0  # `unavailable` answers: the store was away, the frame went again
        self._resending: asyncio.Future[None] | None = None
        self.reconnects = 0
        self.connected_to = ""
        self.gave_up = False
        self.reconnect_seconds = 60.0  # how long a reconnect keeps trying; the run sets its --timeout
        # One attempt's handshake and first answer; the opening of the chats allows more.
        self.attempt_timeout = ATTEMPT_TIMEOUT_SECONDS
        # Handshakes in flight while the chats open, shared by every client (None: unbounded,
        # each page on its own, as after the opening).
        self.gate: asyncio.Semaphore | None = None
        self.on_event: EventHandler = lambda client, frame, at: None
        self.on_frame: EventHandler = lambda client, frame, at: None
        self.resume_frames: Callable[[], list[dict[str, Any]]] = list
        self._ws: ClientConnection | None = None
        self._live = False  # connected, resumed and caught up: new frames may go out directly
        self._closing = False
        self._hint: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.use_standby = False  # keep a standby socket to the other member (see stand_by)
        self._standby: ClientConnection | None = None
        self._standing_by: asyncio.Task[None] | None = None
        self.standby_resumes = 0  # reconnects made on the standby socket, with no handshake
        self._standby_not_before = 0.0  # time.monotonic(): see STANDBY_AFTER_LOSS_SECONDS

    def last_seq(self, session_id: str) -> int:
        return max(self.views.get(session_id, {}), default=0)

    async def connect(self, deadline: float, lost: str | None = None) -> None:
        """Connect to whichever server serves; resume and re-send there. Rounds over the
        pair until ``deadline`` (``time.monotonic``), then ``gave_up``. After the socket to
        ``lost`` closed, the round starts at the next server, NEXT_IN_ROUND later, as the
        pages' does: the one that just dropped us is the least likely to serve."""
        round_ = 0
        while not self._closing:
            order, after_loss, lost = self._order(lost), lost is not None, None
            for n, base in enumerate(order):
                if n or after_loss:
                    await asyncio.sleep(NEXT_IN_ROUND_SECONDS)
                sent: set[str] = set()
                ws = await self._attempt(base, sent)
                if ws is not None:
                    await self._catch_up(ws, sent)
                    return
            if time.monotonic() > deadline:
                self.gave_up = True
                logger.warning("%s: no server of %s served; giving up", self.name, self.servers)
                return
            backoff = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** round_)
            await asyncio.sleep(backoff * (0.8 + random.random() * 0.4))
            round_ += 1

    def _order(self, lost: str | None = None) -> list[str]:
        """The servers, the one a not-primary named first, else the one after ``lost``."""
        hint, self._hint = self._hint, None
        if hint is not None and hint in self.servers:
            return [hint, *(base for base in self.servers if base != hint)]
        if lost in self.servers:
            after = self.servers.index(lost) + 1
            return self.servers[after:] + self.servers[:after]
        return list(self.servers)

    async def _attempt(self, base: str, sent: set[str]) -> ClientConnection | None:
        """A socket to ``base`` that serves, with the resume frames sent; None otherwise."""
        ws = await self._open(base, self.path)
        if ws is None:
            return None
        return await self._hello(ws, base, QUIET_MEANS_SERVING_SECONDS, sent)

    async def _open(self, base: str, path: str) -> ClientConnection | None:
        origin = base.replace("ws://", "http://", 1)
        headers = {"Cookie": f"{self.cookie[0]}={self.cookie[1]}"} if self.cookie else None
        try:
            async with self.gate or nullcontext():
                return await connect(
                    base + path, origin=origin, additional_headers=headers, compression=None,
                    ping_interval=None, open_timeout=self.attempt_timeout, max_queue=None, proxy=None,
                )
        except (OSError, TimeoutError, InvalidHandshake):
            return None

    async def _hello(self, ws: ClientConnection, base: str, quiet: float, sent: set[str]) -> ClientConnection | None:
        """Send the resume frames on ``ws``, and right behind them the messages that wait
        for their own copy (as the pages do: a member that does not serve drops them,
        and they go again; ``sent`` gets their client_ids), then judge the answer:
        ``ws`` if ``base`` serves, None (``ws`` closed) if not. With no resume frame to
        answer, ``quiet`` seconds of silence mean serving."""
        frames = self.resume_frames()
        try:
            for frame in frames:
                await ws.send(json.dumps(frame))
            await self._send_unacked(ws, sent)
            # A backup answers every socket with not-primary at once; a serving
            # instance answers a resume (and nothing else, so silence means serving).
            first = await asyncio.wait_for(ws.recv(), quiet if not frames else ANSWER_TIMEOUT_SECONDS)
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
            self._hint = _base(frame.get("primary"))
            await ws.close()
            return None
        self.connected_to = base
        self._note(frame, time.perf_counter())
        return ws

    async def _send_unacked(self, ws: ClientConnection, sent: set[str]) -> None:
        """Send on ``ws`` every message not seen come back and not in ``sent`` (which gets
        them), until none is left: one the sender adds meanwhile is sent here too.
        Raises ConnectionClosed."""
        while pending := [frame for cid, frame in list(self.unacked.items()) if cid not in sent]:
            for frame in pending:
                client_id = frame["client_id"]
                sent.add(client_id)
                if client_id in self._written:
                    self.resent += 1
                else:
                    self.held += 1
                    self._written.add(client_id)
                await ws.send(json.dumps(frame))

    async def _catch_up(self, ws: ClientConnection, sent: set[str]) -> None:
        """Read on, send what is still unacknowledged and not ``sent`` on ``ws`` yet, then
        let new frames through (once this returns, the sender sends them itself)."""
        self._ws = ws
        task = asyncio.create_task(self._read(ws))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            await self._send_unacked(ws, sent)
        except ConnectionClosed:
            return  # the reader reconnects
        self._live = True
        if self.use_standby and self._standing_by is None:
            self._standing_by = asyncio.create_task(self._stand_by(ws))

    def stand_by(self) -> None:
        """From now on keep a standby socket to the other member (open_standby first
        opens it, so that the caller can wait for every client's)."""
        self.use_standby = True
        if self._ws is not None and self._live and self._standing_by is None:
            self._standing_by = asyncio.create_task(self._stand_by(self._ws))

    async def open_standby(self) -> bool:
        """Open the standby socket to the other member now (the opening waits for them all)."""
        other = self._other()
        ws = None if other is None else await self._open(other, self.path + STANDBY_QUERY)
        if ws is not None and not await self._taken(ws):
            ws = None
        self._standby = ws
        return ws is not None

    def _other(self) -> str | None:
        return next((base for base in self.servers if base != self.connected_to), None)

    @staticmethod
    async def _taken(ws: ClientConnection) -> bool:
        """Whether the member answered the standby socket with ``standby``."""
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), ANSWER_TIMEOUT_SECONDS))
        except (TimeoutError, ConnectionClosed):
            frame = {}
        if frame.get("type") != "standby":
            await ws.close()
            return False
        return True

    async def _stand_by(self, main: ClientConnection) -> None:
        """Keep a standby socket to the other member while ``main`` serves this client:
        open one when there is none, and again, after a pause, when it closes."""
        pause = STANDBY_RETRY_FIRST_SECONDS
        try:
            await asyncio.sleep(max(self._standby_not_before - time.monotonic(), 0))
            while self._ws is main and not self._closing:
                standby = self._standby
                if standby is None and await self.open_standby():
                    pause = STANDBY_RETRY_FIRST_SECONDS
                    continue
                if standby is not None:
                    await standby.wait_closed()
                    if self._standby is standby:
                        self._standby = None
                await asyncio.sleep(pause * (0.8 + random.random() * 0.4))
                pause = min(STANDBY_RETRY_MAX_SECONDS, pause * 2)
        finally:
            if self._standing_by is asyncio.current_task():
                self._standing_by = None

    async def _resume_on_standby(self) -> bool:
        """After the socket to the primary dropped: resume on the standby socket, if one
        is open and its member serves (or takes over: it holds the resume meanwhile)."""
        standby, self._standby = self._standby, None
        if self._standing_by is not None:
            self._standing_by.cancel()
            self._standing_by = None
        other = self._other()
        if standby is None or other is None:
            return False
        sent: set[str] = set()
        ws = await self._hello(standby, other, QUIET_MEANS_SERVING_SECONDS, sent)
        if ws is None:
            return False
        self.standby_resumes += 1
        await self._catch_up(ws, sent)
        return True

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
                self._standby_not_before = time.monotonic() + random.uniform(*STANDBY_AFTER_LOSS_SECONDS)
                if not await self._resume_on_standby():
                    await self.connect(time.monotonic() + self.reconnect_seconds, lost=self.connected_to)

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
                elif frame.get("type") == "notice" and frame.get("notice") == "switchover":
                    # A planned hand-over names the new primary before this socket goes. The
                    # notice replayed by that new primary (after a resume) names the server
                    # this socket is on already: no hint then.
                    primary = _base(frame.get("primary"))
                    if primary is not None and primary != self.connected_to:
                        self._hint = primary
                self.on_event(self, frame, at)
            elif seen == frame:
                self.repeats += 1  # a re-sent message's answer: the original event
            else:
                self.conflicts.append((session_id, seq))
        elif frame.get("type") == "not-primary":
            self._hint = _base(frame.get("primary"))
        elif frame.get("type") == "error" and frame.get("code") == "unavailable":
            # The store did not answer (a Redis failover): nothing was done; what waits
            # for its own copy goes again shortly, as static/chat/connection.js does.
            self.unavailable += 1
            if self._resending is None:
                self._resending = asyncio.ensure_future(self._resend_soon())
        elif frame.get("type") == "error":
            if not self.errors:
                logger.warning("%s: error frame %s", self.name, frame)
            self.errors.append(frame)
        else:
            self.on_frame(self, frame, at)

    async def _resend_soon(self) -> None:
        await asyncio.sleep(UNAVAILABLE_RETRY_SECONDS)
        self._resending = None
        ws = self._ws
        for frame in list(self.unacked.values()) if ws is not None else ():
            try:
                await ws.send(json.dumps(frame))
            except ConnectionClosed:
                return  # the reader reconnects and re-sends

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._standby is not None:
            await self._standby.close()
        if self._standing_by is not None:
            self._standing_by.cancel()
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
    sent: dict[str, float] = field(default_factory=dict)  # client_id -> perf_counter of its scheduled send


@dataclass
class HandOver:
    """One kill (or stop) as the clients saw it: from ``at`` (the signal), per chat, the
    first customer message its agent got on a socket to ``new_primary``."""

    at: float
    new_primary: str | None  # None: whichever member serves (a Redis master killed, issue 11)
    first_delivery: dict[str, float] = field(default_factory=dict)  # session_id -> seconds after ``at``
    ended: float | None = None  # when every chat had delivered through new_primary
    everyone: asyncio.Event = field(default_factory=asyncio.Event)


class FailoverExchange:
    """Chats on a pair, each customer sending on a schedule while the serving member is
    killed (or stopped), as many times as the caller likes.

    The clients are given the primary's address and learn the backup's from
    /api/ha/topology, as the pages do. The kills are the caller's (it knows
    the processes): it calls ``hand_over`` at each, and this records, per
    chat, the first customer message its agent gets from the new primary after
    it; customers send until ``stop_sending``, and at the end every view is
    checked. Every time is ``time.perf_counter``.
    """

    def __init__(self, servers: list[str], target: Target, messages: int, interval: float, text: str,
                 *, standby: bool = True) -> None:
        self.servers = servers
        self.standby = standby  # clients keep a standby socket to the other member, as the pages do
        self.target = target
        self.messages = messages
        self.interval = interval
        self.text = text
        self.chats: dict[str, PairChat] = {}
        self.agents: list[Resilient] = []
        self.hand_overs: list[HandOver] = []
        self.received: dict[str, float] = {}  # client_id -> the agent's first receipt
        self.own_copy: dict[str, float] = {}  # client_id -> the customer's first receipt of its own copy
        # (session_id, seq) of a `disconnected` event -> when a client first got it, and the event
        self.disconnects: dict[tuple[str, int], tuple[float, dict[str, Any]]] = {}
        self.finished_at: float | None = None  # every message sent and delivered (or the run cut)
        self._enough = asyncio.Event()
        self._made: list[Resilient] = []  # every client, to close even those of an opening that failed

    async def open(self, chats: int, timeout: float) -> None:
        """Agents ready, customers started, every chat assigned and settled (see Ours.open).
        The opening may take ``timeout`` or OPEN_SECONDS_PER_CHAT a chat, whichever is longer."""
        deadline = time.monotonic() + max(timeout, chats * OPEN_SECONDS_PER_CHAT)
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)
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

        def opening(client: Resilient) -> Resilient:
            client.attempt_timeout, client.gate = OPEN_TIMEOUT_SECONDS, gate
            self._made.append(client)
            return client

        for n, cookie in enumerate(self.target.agent_cookies):
            agent = opening(Resilient(f"agent {n}", self.servers, "/ws/agent/", (self.target.cookie_name, cookie)))
            agent.on_frame = agent.on_event = on_agent
            held[agent] = set()
            self.agents.append(agent)
        # The gate bounds the handshakes; the connects wait out their quiet half-second side by side.
        await asyncio.gather(*(agent.connect(deadline) for agent in self.agents))
        for agent in self.agents:
            await agent.send({"type": "ready"})
            agent.resume_frames = agent_resume(agent)

        customers = [opening(Resilient(f"customer {n}", self.servers, "/ws/chat/")) for n in range(chats)]
        for customer in customers:
            customer.on_frame = on_customer
        await asyncio.gather(*(customer.connect(deadline) for customer in customers))
        if gave_up := [client.name for client in [*self.agents, *customers] if client.gave_up]:
            raise RuntimeError(f"opening the chats timed out: {len(gave_up)} sockets never opened ({gave_up[0]}, ...)")
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
            chat.customer.on_event = self._on_customer_event
            chat.agent.on_frame = chat.agent.on_event = self._on_agent_event
        if self.standby:
            # Through the opening's gate, before any timing starts.
            opened = await asyncio.gather(*(client.open_standby() for client in self.clients))
            if not all(opened):
                raise RuntimeError(f"{opened.count(False)} standby sockets could not be opened")
            for client in self.clients:
                client.stand_by()
        for client in self.clients:
            # From now on a failover, as the pages meet it: no gate, a page's patience.
            client.attempt_timeout, client.gate = ATTEMPT_TIMEOUT_SECONDS, None
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
        """Every customer sends one message every ``interval``, at least ``messages`` and
        until ``stop_sending``; then this waits until each message came back to its
        sender and reached its agent. False when that wait took over ``timeout``."""
        start = time.perf_counter()
        try:
            await asyncio.gather(*(self._converse(chat, start) for chat in self.chats.values()))
            async with asyncio.timeout(timeout):
                while not self._all_delivered():
                    await asyncio.sleep(0.05)
        except TimeoutError:
            logger.warning("failover: timed out after %s s with messages still missing", timeout)
            return False
        finally:
            self.finished_at = time.perf_counter()
        return True

    def stop_sending(self) -> None:
        """Customers stop once they have sent ``messages`` each."""
        self._enough.set()

    async def _converse(self, chat: PairChat, start: float) -> None:
        """A schedule, whatever happens to the server: a customer keeps typing. Message
        ``n`` is due at ``start + phase + n * interval`` (phase random in [0, interval));
        its send time is that schedule, so a wait shows in every figure from it."""
        start += random.random() * self.interval
        n = 0
        while n < self.messages or not self._enough.is_set():
            scheduled = start + n * self.interval
            await asyncio.sleep(max(scheduled - time.perf_counter(), 0))
            client_id = str(uuid.uuid4())
            chat.sent[client_id] = scheduled
            await chat.customer.send({"type": "message", "text": f"{n} {self.text}", "client_id": client_id})
            n += 1

    def _all_delivered(self) -> bool:
        return all(
            not chat.customer.unacked and chat.sent.keys() <= _client_ids(chat.agent, chat.session_id)
            for chat in self.chats.values()
        )

    def hand_over(self, at: float, new_primary: str | None) -> HandOver:
        """The caller killed (or stopped) the serving member at ``at``; ``new_primary`` (a ws
        base of ``servers``) is to take over. First deliveries are timed from ``at``."""
        hand_over = HandOver(at, new_primary)
        self.hand_overs.append(hand_over)
        return hand_over

    async def delivered_through(self, hand_over: HandOver, timeout: float) -> bool:
        """Whether every chat delivered through the new primary within ``timeout`` of now."""
        try:
            await asyncio.wait_for(hand_over.everyone.wait(), timeout)
        except TimeoutError:
            logger.warning("failover: %d of %d chats delivered through %s within %s s",
                           len(hand_over.first_delivery), len(self.chats), hand_over.new_primary, timeout)
            return False
        return True

    def _on_agent_event(self, agent: Resilient, frame: dict[str, Any], at: float) -> None:
        session_id = frame.get("session_id", "")
        kind = frame.get("type")
        if kind == "disconnected":
            self.disconnects.setdefault((session_id, frame.get("seq", 0)), (at, frame))
        chat = self.chats.get(session_id)
        if kind != "message" or chat is None or frame.get("client_id") not in chat.sent:
            return
        self.received.setdefault(frame["client_id"], at)
        hand_over = self.hand_overs[-1] if self.hand_overs else None
        if (hand_over is not None and hand_over.new_primary in (None, agent.connected_to)
                and session_id not in hand_over.first_delivery):
            hand_over.first_delivery[session_id] = at - hand_over.at
            if len(hand_over.first_delivery) == len(self.chats):
                hand_over.ended = at
                hand_over.everyone.set()

    def _on_customer_event(self, customer: Resilient, frame: dict[str, Any], at: float) -> None:
        session_id = frame.get("session_id", "")
        kind = frame.get("type")
        if kind == "disconnected":
            self.disconnects.setdefault((session_id, frame.get("seq", 0)), (at, frame))
        elif kind == "message" and session_id in self.chats and frame.get("client_id") in self.chats[session_id].sent:
            self.own_copy.setdefault(frame["client_id"], at)

    # -- what a hand-over and the run measured, from the records above --------

    def _windows(self) -> list[tuple[float, float]]:
        """Each hand-over, from 1 s before its signal until every chat had delivered
        through its new primary (or the run ended)."""
        end = self.finished_at or time.perf_counter()
        return [(h.at - HAND_OVER_LEAD_SECONDS, h.ended or end) for h in self.hand_overs]

    def own_copy_waits(self, hand_over: HandOver) -> list[float]:
        """Scheduled send to own copy back, for each message sent during ``hand_over``
        (from HAND_OVER_LEAD_SECONDS before the signal until it ended) that came back."""
        start, end = self._windows()[self.hand_overs.index(hand_over)]
        return [
            self.own_copy[client_id] - sent
            for chat in self.chats.values() for client_id, sent in chat.sent.items()
            if start <= sent <= end and client_id in self.own_copy
        ]

    def disconnects_after(self, hand_over: HandOver) -> list[dict[str, Any]]:
        """`disconnected` events some client got from ``hand_over``'s signal until the next
        one (or the end of the run, before the chats were ended), in arrival order."""
        later = [h.at for h in self.hand_overs if h.at > hand_over.at]
        end = min(later, default=self.finished_at or time.perf_counter())
        return [frame for at, frame in sorted(self.disconnects.values(), key=lambda seen: seen[0])
                if hand_over.at <= at < end]

    def latencies(self) -> tuple[list[float], list[float]]:
        """Scheduled send to the agent's receipt: every delivered message, and those
        scheduled outside every hand-over window."""
        windows = self._windows()
        every, steady = [], []
        for chat in self.chats.values():
            for client_id, sent in chat.sent.items():
                if client_id in self.received:
                    every.append(self.received[client_id] - sent)
                    if not any(start <= sent <= end for start, end in windows):
                        steady.append(self.received[client_id] - sent)
        return every, steady

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
        self.stop_sending()
        for chat in self.chats.values():
            await chat.customer.send({"type": "leave"})
        await asyncio.gather(*(client.close() for client in self._made), return_exceptions=True)


def _base(url: Any) -> str | None:
    """A server's ws base as the pair's list spells it (ws://127.0.0.1:PORT), from a hint."""
    if not isinstance(url, str) or not url:
        return None
    try:
        return local_ws(url).replace("ws://localhost:", "ws://127.0.0.1:", 1)
    except ValueError:
        return url  # not one of ours: _order will not find it among the pair's


def _no_frame(client: Resilient, frame: dict[str, Any], at: float) -> None:
    """Frames without seq nobody needs after the opening (typing, resumed, assigned)."""


def _client_ids(client: Resilient | None, session_id: str) -> set[str]:
    view = client.views.get(session_id, {}) if client is not None else {}
    return {e.get("client_id", "") for e in view.values() if e.get("type") == "message"}
