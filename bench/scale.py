"""One instance at contact-center scale (issue 14): 10,000 open chats, a 5,000-deep queue.

--idle N: N chats (a customer and an agent socket each, as the normal mode
opens them) on the bench's one server, then left silent for --window-seconds:
what open chats cost the server at rest (CPU, memory per chat, threads,
descriptors). Then every customer sends one message, which must reach its
agent and come back: chats that sat still must still work.

--surge N: the server has no agent; N customers open a socket and send
``start`` within --surge-seconds, each on its schedule (open loop, so that a
slow server shows in the figures instead of slowing the customers down):
``start`` -> ``started``, each one's place in the queue, the server's CPU
during the surge and how long it takes to be quiet again. Then
--surge-agents agents say ``ready`` and close every chat they are given at
once: how fast the queue drains, and whether in the order of the places (the
queue is first in, first out).

The server's figures come from /proc (stack.usage). This one process holds
every client socket: it raises its open-files limit first, and spreads its
sockets over several local addresses when one address would run short of
ephemeral ports.
"""
from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import logging
import math
import os
import resource
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake

from . import stack
from .clients import (
    Chats,
    Ours,
    Peer,
    close_all,
    open_bounded,
)
from .report import percentile_ms

logger = logging.getLogger("bench")

# The server's CPU is sampled once a second: the resolution of "quiet after".
SAMPLE_SECONDS = 1.0
# After the surge the server counts as quiet from its first 1-second sample under
# this share of one core (the queue's bookkeeping done, only the sockets held).
QUIET_PERCENT = 15.0
# Client sockets from one local address. Each socket to the one server port needs
# an ephemeral port of its own (32768-60999 here: 28,232, some held by TIME_WAIT or
# by other programs); past this many, sockets go from 127.0.0.2, 127.0.0.3, ...
# in turn (all of 127/8 is the loopback, and the server, bound to 127.0.0.1, takes
# them: it checks the Origin header, which names the server, not the source).
SOCKETS_PER_SOURCE = 14_000
# Descriptors a process needs besides the client sockets and those it has open
# at the check (the server's Redis pool grows to 64 under load; the database,
# logs, epoll): what the check of the open-files limits allows for.
FD_MARGIN = 100
MIB = 1024 * 1024


class NotEnoughFiles(RuntimeError):
    """A process could not hold the run's sockets: its open-files limit is too low."""


# -- descriptors, addresses, sockets ----------------------------------------


def raise_open_files_limit() -> tuple[int, int]:
    """This process's soft RLIMIT_NOFILE raised to its hard limit (20,000 sockets need
    it; the server it starts inherits it). The limit before and after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return _limit(soft), _limit(hard)


def _limit(value: int) -> int:
    return sys.maxsize if value == resource.RLIM_INFINITY else value


def _shown(limit: int) -> str:
    return "unlimited" if limit == sys.maxsize else str(limit)


def check_open_files(pid: int, sockets: int, who: str) -> int:
    """``pid``'s open-files limit, once sure that it holds ``sockets`` more sockets
    than it has open; NotEnoughFiles (before any socket opens) otherwise."""
    limit = stack.open_files_limit(pid)
    used = stack.usage(pid).fds
    if used + sockets + FD_MARGIN > limit:
        raise NotEnoughFiles(
            f"{who} needs {sockets} sockets besides its {used} open descriptors, but its open-files limit is "
            f"{_shown(limit)}: room for about {max(limit - used - FD_MARGIN, 0)} sockets. Raise the hard limit "
            "(ulimit -Hn as root with CAP_SYS_RESOURCE, or the container's nofile ulimit), or run fewer chats."
        )
    return limit


def sources(sockets: int) -> list[str | None]:
    """The local addresses ``sockets`` client sockets go from, in turn; None is
    127.0.0.1, the kernel's choice of address and port (no bind)."""
    count = max(math.ceil(sockets / SOCKETS_PER_SOURCE), 1)
    return [None, *(f"127.0.0.{n}" for n in range(2, count + 1))]


@dataclass
class Errors:
    """Every error frame any client got; the first one logged."""

    frames: list[dict[str, Any]] = field(default_factory=list)

    def note(self, frame: dict[str, Any], who: str) -> None:
        if not self.frames:
            logger.warning("first error frame (%s): %s", who, frame)
        self.frames.append(frame)


# -- the server's CPU, once a second -----------------------------------------


@dataclass(frozen=True)
class Sample:
    """The server's CPU over one interval (``time.perf_counter``), in % of one core."""

    start: float
    end: float
    percent: float


def cpu_percent(before: stack.Usage, since: float, after: stack.Usage, until: float) -> float:
    """The share of one core (%) a process used between two readings."""
    return (after.cpu_seconds - before.cpu_seconds) / (until - since) * 100 if until > since else math.nan


class CpuSampler:
    """Reads the server's CPU time every SAMPLE_SECONDS from ``start`` on (on a
    schedule, so that a late wake-up shortens the next interval instead of
    shifting every later one)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[Sample] = []
        self.changed = asyncio.Event()  # set at every new sample
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        began = time.perf_counter()
        last_at, last = began, stack.usage(self.pid).cpu_seconds
        n = 1
        while True:
            await asyncio.sleep(max(began + n * SAMPLE_SECONDS - time.perf_counter(), 0))
            n = max(n + 1, math.floor((time.perf_counter() - began) / SAMPLE_SECONDS) + 1)
            try:
                cpu = stack.usage(self.pid).cpu_seconds
            except FileNotFoundError:  # the server is gone: the run fails elsewhere
                return
            at = time.perf_counter()
            self.samples.append(Sample(last_at, at, (cpu - last) / (at - last_at) * 100))
            self.changed.set()
            last_at, last = at, cpu

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def peak(self, since: float, until: float) -> float:
        """The highest 1-second sample that overlaps [since, until]."""
        return max((s.percent for s in self.samples if s.end > since and s.start < until), default=math.nan)

    def until_quiet(self, moment: float) -> list[float]:
        """The samples that end after ``moment``, up to the first quiet one (%)."""
        found = []
        for sample in self.samples:
            if sample.end > moment:
                found.append(sample.percent)
                if sample.percent < QUIET_PERCENT:
                    break
        return found

    def quiet_after(self, moment: float) -> float | None:
        """Seconds from ``moment`` to the start of the first sample under QUIET_PERCENT
        that ends after it (0 when the one around ``moment`` is quiet); None: none yet."""
        for sample in self.samples:
            if sample.end > moment and sample.percent < QUIET_PERCENT:
                return max(sample.start - moment, 0.0)
        return None


# -- --idle ---------------------------------------------------------------------


@dataclass
class IdleResult:
    """What N silent chats cost the server, and whether every one still works after.

    ``before``: the server once it served, before any chat; ``opened``: right
    after the chats were open and settled; ``after``: at the end of the silent
    window. ``cpu_percent``: the server's CPU over the window (% of one core),
    ``cpu_peak`` its highest 1-second sample. ``frames_in_window``: frames any
    client got while the chats were silent. Then each customer sent one
    message: ``delivered`` to its agent, ``own_copies`` back to it,
    ``latencies`` send -> agent receipt. ``closed``: sockets the server closed.
    """

    chats: int
    window: float
    sources: int
    open_files: int
    raised_from: int
    server_open_files: int
    open_seconds: float
    before: stack.Usage
    opened: stack.Usage
    after: stack.Usage
    cpu_percent: float
    cpu_peak: float
    frames_in_window: int
    delivered: int
    own_copies: int
    latencies: list[float]
    errors: int
    closed: int

    @property
    def per_chat_bytes(self) -> float:
        return (self.after.rss_bytes - self.before.rss_bytes) / self.chats

    def problems(self) -> list[str]:
        found = []
        if self.delivered < self.chats:
            found.append(f"{self.chats - self.delivered} messages never reached their agent")
        if self.own_copies < self.chats:
            found.append(f"{self.chats - self.own_copies} customers never got their own copy back")
        if self.errors:
            found.append(f"{self.errors} error frames")
        if self.closed:
            found.append(f"{self.closed} sockets closed by the server")
        return found


async def open_chats(target: stack.Target, chats: int, timeout: float, errors: Errors) -> Chats:
    """clients.Ours.open with the sockets spread over ``sources``: every chat assigned
    and every customer's ``start`` finished (a typing notice reached its agent)."""
    return await Ours(target).open(chats, timeout, sources=sources(2 * chats), on_error=errors.note)


async def one_message_each(chats: Chats, timeout: float, errors: Errors) -> tuple[int, int, list[float]]:
    """Every customer sends one message at once: (reached its agent, came back to
    its sender, send -> agent receipt), after at most ``timeout``."""
    sent: dict[str, float] = {}
    latencies: dict[str, float] = {}
    own: set[str] = set()
    done = asyncio.Event()

    def check() -> None:
        if len(latencies) >= len(chats.customers) and len(own) >= len(chats.customers):
            done.set()

    def on_customer(frame: dict[str, Any], at: float) -> None:
        if frame.get("type") == "message" and frame.get("client_id") in sent:
            own.add(frame["client_id"])
            check()
        elif frame.get("type") == "error":
            errors.note(frame, "customer")

    def on_agent(frame: dict[str, Any], at: float) -> None:
        client_id = frame.get("client_id")
        if frame.get("type") == "message" and client_id in sent:
            latencies.setdefault(client_id, at - sent[client_id])
            check()
        elif frame.get("type") == "error":
            errors.note(frame, "agent")

    for peer in chats.customers:
        peer.handler = on_customer
    for peer in chats.agents:
        peer.handler = on_agent

    async def send(n: int, customer: Peer) -> None:
        client_id = str(uuid.uuid4())
        sent[client_id] = time.perf_counter()
        try:
            await customer.send({"type": "message", "text": f"still there? {n}", "client_id": client_id})
        except ConnectionClosed:
            pass  # counted as closed

    await asyncio.gather(*(send(n, customer) for n, customer in enumerate(chats.customers)))
    try:
        await asyncio.wait_for(done.wait(), timeout)
    except TimeoutError:
        logger.warning("idle: after %s s, %d of %d messages reached their agent, %d came back", timeout,
                       len(latencies), len(chats.customers), len(own))
    return len(latencies), len(own), list(latencies.values())


async def measure_idle(target: stack.Target, args: argparse.Namespace, limits: tuple[int, int]) -> IdleResult:
    """Open the chats, leave them silent for the window with the server watched, then
    one message each."""
    server = target.server
    assert server is not None and server.process is not None
    pid = server.process.pid
    chats = args.idle
    server_limit = check_open_files(pid, 2 * chats, f"the server ({server.name})")
    errors = Errors()
    before = stack.usage(pid)
    opening = time.perf_counter()
    opened_chats = await open_chats(target, chats, args.timeout, errors)
    try:
        open_seconds = time.perf_counter() - opening
        logger.info("idle: %d chats open in %.1f s; silent for %g s", chats, open_seconds, args.window_seconds)
        frames = Counter[str]()

        def silent(frame: dict[str, Any], at: float) -> None:
            frames[frame.get("type", "?")] += 1
            if frame.get("type") == "error":
                errors.note(frame, "during the window")

        for peer in opened_chats.peers:
            peer.handler = silent
        sampler = CpuSampler(pid)
        opened, since = stack.usage(pid), time.perf_counter()
        sampler.start()
        await asyncio.sleep(args.window_seconds)
        after, until = stack.usage(pid), time.perf_counter()
        await sampler.stop()
        if frames:
            logger.warning("idle: the silent chats got frames during the window: %s", dict(frames))
        delivered, own, latencies = await one_message_each(opened_chats, args.timeout, errors)
        closed = sum(peer.closed for peer in opened_chats.peers)
    finally:
        await Ours(target).end(opened_chats)
    return IdleResult(
        chats=chats, window=args.window_seconds, sources=len(sources(2 * chats)), open_files=limits[1],
        raised_from=limits[0], server_open_files=server_limit, open_seconds=open_seconds, before=before,
        opened=opened, after=after, cpu_percent=cpu_percent(opened, since, after, until),
        cpu_peak=sampler.peak(since, until), frames_in_window=sum(frames.values()), delivered=delivered,
        own_copies=own, latencies=latencies, errors=len(errors.frames), closed=closed,
    )


def _mib(value: int) -> str:
    return f"{value / MIB:.1f} MiB"


def _spread(values: list[float], unit: str = "ms") -> str:
    return " / ".join(f"{percentile_ms(values, p):.1f}" for p in (50, 99, 100)) + f" {unit}"


def _limits(open_files: int, raised_from: int, server: int) -> str:
    raised = (f"raised from {_shown(raised_from)} to the hard limit" if raised_from != open_files
              else "= the hard limit")
    return f"open-files limit: this process {_shown(open_files)} ({raised}), the server {_shown(server)}"


def render_idle(r: IdleResult) -> str:
    problems = r.problems()
    return "\n".join([
        f"idle: {r.chats} chats ({2 * r.chats} sockets from {r.sources} local address"
        f"{'es' if r.sources > 1 else ''}), opened in {r.open_seconds:.1f} s, then silent for {r.window:g} s; "
        + _limits(r.open_files, r.raised_from, r.server_open_files),
        f"server CPU over the window: {r.cpu_percent:.1f} % of one core (highest 1-s sample {r.cpu_peak:.1f} %); "
        f"frames the clients got meanwhile: {r.frames_in_window}",
        f"server RSS: before the chats {_mib(r.before.rss_bytes)}, once open {_mib(r.opened.rss_bytes)}, "
        f"after the window {_mib(r.after.rss_bytes)}: {r.per_chat_bytes / 1024:.1f} KiB per chat",
        f"server threads {r.after.threads} (before the chats {r.before.threads}), open file descriptors "
        f"{r.after.fds} (before {r.before.fds})",
        f"after the window, one message per chat: reached its agent {r.delivered} of {r.chats}, own copy back "
        f"{r.own_copies} of {r.chats}; send -> agent p50/p99/max {_spread(r.latencies)}; error frames {r.errors}, "
        f"sockets closed by the server {r.closed}",
        "OK" if not problems else "FAILED: " + "; ".join(problems),
    ])


# -- --surge ----------------------------------------------------------------------


@dataclass
class Waiting:
    """One customer of the surge, as its socket saw it (times: ``time.perf_counter``)."""

    n: int
    scheduled: float
    peer: Peer | None = None
    attempts: int = 0
    opened: float | None = None
    sent: float | None = None  # its `start`
    started: float | None = None
    session_id: str | None = None
    position: int | None = None  # from its first stored `queued` notice
    last_position: int | None = None  # from the last `queued`, stored or not
    seqs: set[int] = field(default_factory=set)
    repeated: int = 0  # seqs seen twice
    first_events: list[tuple[int, str]] = field(default_factory=list)  # (seq, type) of its first two events
    assigned_at: str | None = None  # the `at` of its agent's `joined`: when the server assigned it
    closed: bool = False  # got the `closed` event


@dataclass
class SurgeResult:
    """A surge of customers with no agent, then the drain.

    Times are seconds unless named otherwise. ``handshakes``: scheduled time ->
    socket open; ``lags``: scheduled time -> `start` sent (the bench's own lag,
    the handshake included); ``started``: `start` sent -> `started`.
    ``surge_cpu``: the server's CPU from the first `start` to the last (% of one
    core), ``surge_peak`` its highest 1-second sample then; ``quiet_after``: the
    last `start` to the first 1-second sample under QUIET_PERCENT (None: not
    within the timeout). ``drain_seconds``: the agents' `ready` to the last
    `assigned`; ``per_second``: assignments in each whole second of it.
    ``out_of_order``: pairs of chats assigned in the other order than their
    places. ``stored_notices`` / ``ephemeral``: `queued` notices customers got
    with a seq / without, during the surge and during the drain.
    """

    customers: int
    seconds: float
    agents: int
    sources: int
    open_files: int
    raised_from: int
    server_open_files: int
    handshakes: list[float]
    lags: list[float]
    retries: int
    started: list[float]
    not_opened: int
    queued: int
    repeated_places: int
    bad_first_events: int
    before: stack.Usage
    after_surge: stack.Usage
    after_drain: stack.Usage
    surge_cpu: float
    surge_peak: float
    quiet_after: float | None
    until_quiet: list[float]  # the 1-second samples from the last start to the first quiet one
    drain_cpu: float
    drain_peak: float
    assigned: int
    drain_seconds: float | None
    per_second: list[int]
    out_of_order: int
    ordered: int  # chats the order check could place (a place and an assignment time)
    stored_notices: dict[str, int]
    ephemeral: dict[str, int]
    chats_closed: int
    errors: int
    closed: int
    gaps: int
    duplicates: int

    def problems(self) -> list[str]:
        found = []
        if len(self.started) < self.customers:
            found.append(f"{self.customers - len(self.started)} customers never got started"
                         + (f" ({self.not_opened} never opened a socket)" if self.not_opened else ""))
        if self.queued < len(self.started):
            found.append(f"{len(self.started) - self.queued} started customers got no place in the queue")
        if self.bad_first_events:
            found.append(f"{self.bad_first_events} customers' first events were not joined + queued")
        if self.assigned < self.customers:
            found.append(f"{self.customers - self.assigned} chats never assigned")
        if self.out_of_order:
            found.append(f"{self.out_of_order} pairs of chats assigned out of order")
        if self.errors:
            found.append(f"{self.errors} error frames")
        if self.closed:
            found.append(f"{self.closed} sockets closed by the server")
        if self.gaps or self.duplicates:
            found.append(f"{self.gaps} seq gaps, {self.duplicates} repeated seqs")
        return found

    @property
    def rate(self) -> float:
        return self.assigned / self.drain_seconds if self.drain_seconds else math.nan


def inversions(values: list[Any]) -> int:
    """Pairs i < j with values[i] > values[j] (ties are in order)."""
    seen: list[Any] = []
    count = 0
    for value in reversed(values):
        count += bisect.bisect_left(seen, value)  # later values strictly smaller
        bisect.insort(seen, value)
    return count


def _instant(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


class Surge:
    """The customers of a surge and the agents that drain it, with what each saw."""

    def __init__(self, target: stack.Target, args: argparse.Namespace) -> None:
        self.target = target
        self.customers = args.surge
        self.seconds = args.surge_seconds
        self.timeout = args.timeout
        self.spread = sources(args.surge + args.surge_agents)
        self.waiting: list[Waiting] = []
        self.by_session: dict[str, Waiting] = {}
        self.errors = Errors()
        self.phase = "surge"  # or "drain": which counters the `queued` notices go to
        self.stored_notices: Counter[str] = Counter()
        self.ephemeral: Counter[str] = Counter()
        self.agents: list[Peer] = []
        self.assignments: dict[str, float] = {}  # session_id -> the agent's receipt of `assigned`
        self.agent_joined_at: dict[str, str] = {}  # session_id -> `at` of the agent's joined, in the history
        self.progress = asyncio.Event()
        self._sends: set[asyncio.Task[None]] = set()
        self.not_opened = 0

    # -- customers

    async def run_customers(self, first: float) -> None:
        """Each customer opens its socket and starts at ``first`` + n x seconds / N."""
        step = self.seconds / self.customers
        self.waiting = [Waiting(n, first + n * step) for n in range(self.customers)]
        await asyncio.gather(*(self._customer(w) for w in self.waiting))

    async def _customer(self, w: Waiting) -> None:
        await asyncio.sleep(max(w.scheduled - time.perf_counter(), 0))
        try:
            w.peer = await Peer.open(f"{self.target.ws}/ws/chat/", source=self.spread[w.n % len(self.spread)])
            w.attempts = w.peer.attempts
        except (OSError, TimeoutError, InvalidHandshake) as error:
            self.not_opened += 1
            logger.warning("surge: customer %d could not open its socket: %r", w.n, error)
            return
        w.opened = time.perf_counter()
        w.peer.handler = lambda frame, at: self._on_customer(w, frame, at)
        w.sent = time.perf_counter()
        try:
            await w.peer.send({"type": "start", "nickname": f"Customer {w.n}", "subject": self.target.run_id})
        except ConnectionClosed:
            w.sent = None

    def _on_customer(self, w: Waiting, frame: dict[str, Any], at: float) -> None:
        kind = frame.get("type")
        seq = frame.get("seq")
        if kind == "started":
            w.started, w.session_id = at, frame["session_id"]
            self.by_session[w.session_id] = w
            self.progress.set()
        elif kind == "error":
            self.errors.note(frame, f"customer {w.n}")
        elif isinstance(seq, int):  # an event
            if seq in w.seqs:
                w.repeated += 1
                return
            w.seqs.add(seq)
            if len(w.first_events) < 2:
                w.first_events.append((seq, f"{kind}/{frame.get('notice', frame.get('role', ''))}"))
            if kind == "notice" and frame.get("notice") == "queued":
                self.stored_notices[self.phase] += 1
                if w.position is None:
                    w.position = frame.get("position")
                    self.progress.set()
                w.last_position = frame.get("position")
            elif kind == "joined" and frame.get("role") == "agent":
                w.assigned_at = frame.get("at")
            elif kind == "closed":
                w.closed = True
                self.progress.set()
        elif kind == "notice" and frame.get("notice") == "queued":
            # An ephemeral place update: no seq, never stored; neither a gap nor a repeat.
            self.ephemeral[self.phase] += 1
            w.last_position = frame.get("position")

    def all_started(self) -> bool:
        return sum(w.started is not None and w.position is not None for w in self.waiting) + self.not_opened >= (
            self.customers)

    @property
    def last_start(self) -> float:
        return max((w.sent for w in self.waiting if w.sent is not None), default=time.perf_counter())

    # -- agents

    async def open_agents(self) -> None:
        """Every agent's socket open, none ready yet."""

        async def agent(n: int, cookie: str) -> Peer:
            source = self.spread[(self.customers + n) % len(self.spread)]
            peer = await Peer.open(f"{self.target.ws}/ws/agent/", (self.target.cookie_name, cookie), source=source)
            peer.handler = lambda frame, at: self._on_agent(peer, n, frame, at)
            return peer

        self.agents = await open_bounded(lambda n=n, cookie=cookie: agent(n, cookie)
                                     for n, cookie in enumerate(self.target.agent_cookies))

    def _on_agent(self, peer: Peer, n: int, frame: dict[str, Any], at: float) -> None:
        kind = frame.get("type")
        session_id = frame.get("session_id", "")
        if kind == "assigned":
            self.assignments.setdefault(session_id, at)
            self.progress.set()
            task = asyncio.create_task(self._close(peer, session_id))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)
        elif kind == "joined" and frame.get("role") == "agent":
            self.agent_joined_at.setdefault(session_id, frame.get("at", ""))
        elif kind == "error":
            self.errors.note(frame, f"agent {n}")

    @staticmethod
    async def _close(peer: Peer, session_id: str) -> None:
        try:
            await peer.send({"type": "close", "session_id": session_id})
        except ConnectionClosed:
            pass  # counted as closed

    async def drain(self) -> float:
        """Every agent says ready at once; the time it did."""
        self.phase = "drain"
        at = time.perf_counter()
        await asyncio.gather(*(peer.send({"type": "ready"}) for peer in self.agents))
        return at

    async def until(self, done: Callable[[], bool], deadline: float) -> bool:
        """Wait for ``done`` (checked at each frame that moves things) until ``deadline``."""
        while not done():
            self.progress.clear()
            try:
                await asyncio.wait_for(self.progress.wait(), max(deadline - time.perf_counter(), 0))
            except TimeoutError:
                return done()
        return True

    # -- the checks

    def order(self) -> tuple[int, int]:
        """Pairs of chats assigned in the other order than their first places, by the
        server's `at` of each agent's `joined` (the customer's copy, else the agent's):
        the order the server made the assignments in, whichever agent socket heard of
        it first. `at` has millisecond steps: chats assigned in one are in order."""
        placed = []
        for w in self.waiting:
            at = w.assigned_at or (self.agent_joined_at.get(w.session_id or "") or None)
            if w.position is not None and at:
                placed.append((w.position, _instant(at)))
        placed.sort(key=lambda pair: pair[0])
        times = [at for _, at in placed]
        count = inversions(times)
        if count:
            first = next(i for i in range(len(times) - 1) if times[i] > min(times[i + 1:]))
            logger.warning("surge: %d pairs out of order; e.g. place %d was assigned at %s, after a later place",
                           count, placed[first][0], placed[first][1].isoformat())
        return count, len(placed)

    def per_second(self, since: float) -> list[int]:
        """Assignments in each whole second from ``since`` to the last one (all of
        them in one figure when the drain took under a second)."""
        times = sorted(self.assignments.values())
        if not times:
            return []
        whole = math.floor(times[-1] - since)
        if whole < 1:
            return [len(times)]
        counts = Counter(math.floor(t - since) for t in times)
        return [counts.get(second, 0) for second in range(whole)]

    async def end(self) -> None:
        """Customers still in a chat leave (the sessions close), then every socket closes."""
        await asyncio.gather(*self._sends, return_exceptions=True)
        customers = [w.peer for w in self.waiting if w.peer is not None]
        await asyncio.gather(*(w.peer.send({"type": "leave"}) for w in self.waiting
                               if w.peer is not None and w.started is not None and not w.closed),
                             return_exceptions=True)
        await close_all([*customers, *self.agents])


async def measure_surge(target: stack.Target, args: argparse.Namespace, limits: tuple[int, int]) -> SurgeResult:
    """The surge with no agent, the wait for the server to be quiet, then the drain."""
    server = target.server
    assert server is not None and server.process is not None
    pid = server.process.pid
    server_limit = check_open_files(pid, args.surge + args.surge_agents, f"the server ({server.name})")
    surge = Surge(target, args)
    sampler = CpuSampler(pid)
    try:
        logger.info("surge: %d customers start within %g s, no agent", args.surge, args.surge_seconds)
        before, first = stack.usage(pid), time.perf_counter()
        sampler.start()
        await surge.run_customers(first)
        last = surge.last_start
        surge_end_usage, surge_end_at = stack.usage(pid), time.perf_counter()
        if not await surge.until(surge.all_started, last + args.timeout):
            logger.warning("surge: after %s s, %d of %d customers started with a place", args.timeout,
                           sum(w.position is not None for w in surge.waiting), args.surge)
        # Until the server is quiet (or the timeout), then the agents come.
        while sampler.quiet_after(last) is None and time.perf_counter() < last + args.timeout:
            sampler.changed.clear()
            with contextlib.suppress(TimeoutError):  # a sampler that stopped (the server gone) waits no more
                await asyncio.wait_for(sampler.changed.wait(), SAMPLE_SECONDS * 3)
        quiet_after, until_quiet = sampler.quiet_after(last), sampler.until_quiet(last)
        after_surge = stack.usage(pid)
        logger.info("surge: %d started; the server quiet %s s after the last start; %d agents drain the queue",
                    sum(w.started is not None for w in surge.waiting),
                    "never" if quiet_after is None else f"{quiet_after:.1f}", args.surge_agents)
        await surge.open_agents()
        drain_usage = stack.usage(pid)
        ready = await surge.drain()
        expected = {w.session_id for w in surge.waiting if w.session_id is not None}
        if not await surge.until(lambda: expected <= surge.assignments.keys(), ready + args.timeout):
            logger.warning("surge: after %s s, %d of %d chats assigned", args.timeout,
                           len(expected & surge.assignments.keys()), len(expected))
        drained_at = time.perf_counter()
        after_drain = stack.usage(pid)
        # The last closes: not timed, but every chat should end before the sockets go.
        await surge.until(lambda: all(w.closed for w in surge.waiting if w.session_id in surge.assignments),
                          time.perf_counter() + args.timeout)
        closed = sum(w.peer.closed for w in surge.waiting if w.peer is not None) + sum(
            peer.closed for peer in surge.agents)
    finally:
        await sampler.stop()
        await surge.end()
    out_of_order, ordered = surge.order()
    assignments = sorted(surge.assignments.values())
    positions = Counter(w.position for w in surge.waiting if w.position is not None)
    return SurgeResult(
        customers=args.surge, seconds=args.surge_seconds, agents=args.surge_agents, sources=len(surge.spread),
        open_files=limits[1], raised_from=limits[0], server_open_files=server_limit,
        handshakes=[w.opened - w.scheduled for w in surge.waiting if w.opened is not None],
        lags=[w.sent - w.scheduled for w in surge.waiting if w.sent is not None],
        retries=sum(max(w.attempts - 1, 0) for w in surge.waiting),
        started=[w.started - w.sent for w in surge.waiting if w.started is not None and w.sent is not None],
        not_opened=surge.not_opened,
        queued=sum(w.position is not None for w in surge.waiting),
        repeated_places=sum(n - 1 for n in positions.values()),
        bad_first_events=sum(
            [event for _, event in w.first_events] != ["joined/customer", "notice/queued"]
            for w in surge.waiting if w.started is not None
        ),
        before=before, after_surge=after_surge, after_drain=after_drain,
        surge_cpu=cpu_percent(before, first, surge_end_usage, surge_end_at),
        surge_peak=sampler.peak(first, last), quiet_after=quiet_after, until_quiet=until_quiet,
        drain_cpu=cpu_percent(drain_usage, ready, after_drain, drained_at),
        drain_peak=sampler.peak(ready, drained_at),
        assigned=len(surge.assignments),
        drain_seconds=assignments[-1] - ready if assignments else None,
        per_second=surge.per_second(ready),
        out_of_order=out_of_order, ordered=ordered,
        stored_notices=dict(surge.stored_notices), ephemeral=dict(surge.ephemeral),
        chats_closed=sum(w.closed for w in surge.waiting), errors=len(surge.errors.frames), closed=closed,
        gaps=sum(max(w.seqs, default=0) - len(w.seqs) for w in surge.waiting),
        duplicates=sum(w.repeated for w in surge.waiting),
    )


def render_surge(r: SurgeResult) -> str:
    problems = r.problems()
    phases = ("surge", "drain")
    notices = ", ".join(f"{r.stored_notices.get(p, 0)} / {r.ephemeral.get(p, 0)} during the {p}" for p in phases)
    per_second = statistics.median(r.per_second) if r.per_second else math.nan
    started = len(r.started)
    quiet = ("not within the timeout" if r.quiet_after is None else
             f"from {r.quiet_after:.1f} s after the last start")
    samples = " ".join(f"{percent:.0f}" for percent in r.until_quiet[:20])
    return "\n".join([
        f"surge: {r.customers} customers start within {r.seconds:g} s ({r.customers / r.seconds:.0f} a second, "
        f"evenly), no agent; then {r.agents} agents (agent-capacity 1) close every chat they are given; "
        f"{r.customers + r.agents} sockets from {r.sources} local address{'es' if r.sources > 1 else ''}; "
        + _limits(r.open_files, r.raised_from, r.server_open_files),
        f"handshake (scheduled -> open) p50/p99/max {_spread(r.handshakes)}; start sent after its schedule "
        f"p99 {percentile_ms(r.lags, 99):.1f} ms (handshake included); retried handshakes {r.retries}",
        f"start -> started p50/p99/max {_spread(r.started)}; started {started} of {r.customers}, "
        f"with a place in the queue {r.queued}, places given twice {r.repeated_places}, first events other than "
        f"joined + queued {r.bad_first_events}",
        f"server CPU during the surge {r.surge_cpu:.0f} % of one core (highest 1-s sample {r.surge_peak:.0f} %); "
        f"under {QUIET_PERCENT:g} % {quiet} (1-s samples from the last start: {samples} %)",
        f"drain: {r.assigned} of {r.customers} assigned in "
        f"{'never' if r.drain_seconds is None else f'{r.drain_seconds:.2f} s'}: {r.rate:.0f} a second overall, "
        f"p50 of per-second counts {per_second:.0f}; server CPU during the drain {r.drain_cpu:.0f} % "
        f"(highest 1-s sample {r.drain_peak:.0f} %); chats closed {r.chats_closed}",
        f"order (by the server's `at` of each agent's joined, against the first places): {r.out_of_order} pairs "
        f"out of order over {r.ordered} chats",
        f"queued notices customers got, stored (seq) / ephemeral (no seq): {notices}",
        f"server RSS: before {_mib(r.before.rss_bytes)}, after the surge {_mib(r.after_surge.rss_bytes)} "
        f"({(r.after_surge.rss_bytes - r.before.rss_bytes) / r.customers / 1024:.1f} KiB per waiting chat), "
        f"after the drain {_mib(r.after_drain.rss_bytes)}; threads {r.after_surge.threads}, open file descriptors "
        f"{r.after_surge.fds} with the queue full",
        f"error frames {r.errors}, sockets closed by the server {r.closed}, seq gaps {r.gaps}, repeated seqs "
        f"{r.duplicates}",
        "OK" if not problems else "FAILED: " + "; ".join(problems),
    ])


def run(args: argparse.Namespace) -> int:
    """--idle or --surge: the open-files limits first, then the bench's own server,
    the measurement, the figures, and everything made removed (as load.main does)."""
    limits = raise_open_files_limit()
    sockets = 2 * args.idle if args.idle is not None else args.surge + args.surge_agents
    logger.info("open-files limit of this process: %s (was %s)", _shown(limits[1]), _shown(limits[0]))
    agents = args.idle if args.idle is not None else args.surge_agents
    try:
        check_open_files(os.getpid(), sockets, "this process")
        # chats = agents: agent-capacity 1, one chat per agent at a time.
        with stack.BenchStack(chats=agents, agents=agents) as bench:
            if args.idle is not None:
                idle = asyncio.run(measure_idle(bench.target, args, limits))
                problems, report = idle.problems(), render_idle(idle)
            else:
                surge = asyncio.run(measure_surge(bench.target, args, limits))
                problems, report = surge.problems(), render_surge(surge)
            bench.keep_logs = bool(problems)
    except KeyboardInterrupt:
        logger.warning("interrupted: servers stopped, rows and keys removed")
        return 130
    except NotEnoughFiles as error:
        print(f"FAILED: {error}")
        return 1
    print(report)
    return 0 if not problems else 1
