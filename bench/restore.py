"""--restore N: a takeover at contact-center scale (issue 14).

The primary of a pair holds N open chats (each assigned to one of
--restore-agents agents) and a queue --restore-queued M deep, then is killed
with SIGKILL. Measured on the backup: how long until it serves (``/readyz``),
how long its restoration took (``chat_restore_seconds``, from its /metrics),
how many sessions it restored and holds open and queued; then every waiting
customer resumes on it and must get its place back, in the order the queue had
before the kill (first in, first out, nobody twice).

The customers' sockets close once their chat is started (the sessions stay
open: ``participant-return-timeout`` is an hour here), so that 15,000 chats
need no 15,000 sockets; the agents' sockets die with the primary and do not
come back, so that nothing drains the queue before it is checked.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import stack
from .clients import Peer, close_all
from .scale import Errors, check_open_files, inversions, raise_open_files_limit

logger = logging.getLogger("bench")

# Chats started at once while the primary fills: enough to be quick, few enough
# that the server's accept queue never overflows (see clients.OPEN_CONCURRENCY).
FILL_CONCURRENCY = 25
# The pair's options for this mode: a customer whose socket closed stays in its
# chat for the whole run, so that its session is open (or waiting) at the kill.
RESTORE_OPTIONS = {"participant-return-timeout": "3600"}


@dataclass
class Customer:
    """One chat of the run, as its customer saw it."""

    n: int
    session_id: str | None = None
    token: str | None = None
    last_seq: int = 0
    place: int | None = None  # from its stored `queued` notice, before the kill
    place_after: int | None = None  # from the new primary, after a resume
    resumed: bool = False
    got: asyncio.Event = field(default_factory=asyncio.Event)
    echoed: int = 0  # its own messages seen come back (--restore-messages)
    all_echoed: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class RestoreResult:
    chats: int
    messages: int  # each open chat's customer wrote this many before the kill
    queued: int
    agents: int
    filled_seconds: float
    primary_rss: int
    served_after: float | None
    restore_seconds: float | None
    restored: float | None
    open_after: float | None
    queued_after: float | None
    backup_rss_after: int
    resumed: int
    with_place: int
    out_of_order: int
    places_twice: int
    errors: int

    def problems(self) -> list[str]:
        found = []
        if self.served_after is None:
            found.append("the backup never served")
        if self.restored != self.chats + self.queued:
            found.append(f"{self.restored} sessions restored of {self.chats + self.queued}")
        if self.queued_after != self.queued:
            found.append(f"{self.queued_after} chats waiting after the takeover of {self.queued}")
        if self.with_place != self.queued:
            found.append(f"{self.queued - self.with_place} waiting customers got no place after resuming")
        if self.out_of_order or self.places_twice:
            found.append(f"{self.out_of_order} out of order, {self.places_twice} places given twice")
        if self.errors:
            found.append(f"{self.errors} error frames")
        return found


class Filling:
    """The agents and customers that fill the primary, and the waiting ones' resumes."""

    def __init__(self, target: stack.Target, args: argparse.Namespace) -> None:
        self.target = target
        self.args = args
        self.errors = Errors()
        self.agents: list[Peer] = []
        self.assigned = 0
        self.progress = asyncio.Event()

    async def open_agents(self) -> None:
        cookies = self.target.agent_cookies
        self.agents = [await Peer.open(f"{self.target.ws}/ws/agent/", (self.target.cookie_name, cookie))
                       for cookie in cookies]
        for agent in self.agents:
            agent.handler = self._on_agent
            await agent.send({"type": "ready"})

    def _on_agent(self, frame: dict[str, Any], at: float) -> None:
        if frame.get("type") == "assigned":
            self.assigned += 1
            self.progress.set()
        elif frame.get("type") == "error":
            self.errors.note(frame, "agent")

    async def start_all(self, customers: list[Customer], *, waits: bool) -> None:
        """Each customer starts its chat and closes its socket once started (and, if
        it ``waits``, once it has its place)."""
        gate = asyncio.Semaphore(FILL_CONCURRENCY)

        async def one(customer: Customer) -> None:
            async with gate:
                peer = await Peer.open(f"{self.target.ws}/ws/chat/")
                peer.handler = lambda frame, at: self._on_customer(customer, frame, waits)
                await peer.send({"type": "start", "nickname": f"Customer {customer.n}",
                                 "subject": self.target.run_id})
                await asyncio.wait_for(customer.got.wait(), self.args.timeout)
                if not waits and self.args.restore_messages:
                    # A longer chat: its log is what a takeover reads and folds.
                    for n in range(self.args.restore_messages):
                        await peer.send({"type": "message", "text": f"message {n}", "client_id": uuid.uuid4().hex})
                    await asyncio.wait_for(customer.all_echoed.wait(), self.args.timeout)
                await peer.close()

        await asyncio.gather(*(one(customer) for customer in customers))

    def _on_customer(self, customer: Customer, frame: dict[str, Any], waits: bool) -> None:
        kind = frame.get("type")
        if kind == "started":
            customer.session_id, customer.token = frame["session_id"], frame["token"]
        elif kind == "error":
            self.errors.note(frame, f"customer {customer.n}")
        if isinstance(frame.get("seq"), int):
            customer.last_seq = max(customer.last_seq, frame["seq"])
        if kind == "notice" and frame.get("notice") == "queued" and "seq" in frame:
            customer.place = frame.get("position")
        if kind == "message" and frame.get("role") == "customer":
            customer.echoed += 1
            if customer.echoed >= self.args.restore_messages:
                customer.all_echoed.set()
        if customer.session_id is not None and (not waits or customer.place is not None):
            customer.got.set()

    async def until_assigned(self, count: int) -> None:
        async with asyncio.timeout(self.args.timeout):
            while self.assigned < count:
                self.progress.clear()
                await self.progress.wait()

    async def resume_all(self, ws: str, customers: list[Customer]) -> None:
        """Each waiting customer resumes on ``ws`` and reads its place (the ephemeral
        `queued` frame a resume of a waiting chat gets)."""
        gate = asyncio.Semaphore(FILL_CONCURRENCY)

        async def one(customer: Customer) -> None:
            customer.got.clear()
            async with gate:
                peer = await Peer.open(f"{ws}/ws/chat/")
                peer.handler = lambda frame, at: self._on_resumed(customer, frame)
                await peer.send({"type": "resume", "session_id": customer.session_id, "token": customer.token,
                                 "last_seq": customer.last_seq})
                try:
                    await asyncio.wait_for(customer.got.wait(), self.args.timeout)
                except TimeoutError:
                    logger.warning("restore: customer %d got no place after its resume", customer.n)
                await peer.close()

        await asyncio.gather(*(one(customer) for customer in customers))

    def _on_resumed(self, customer: Customer, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "resumed":
            customer.resumed = True
        elif kind == "error":
            self.errors.note(frame, f"customer {customer.n} (resume)")
        elif kind == "notice" and frame.get("notice") == "queued":
            customer.place_after = frame.get("position")
            customer.got.set()

    async def end(self) -> None:
        await close_all(self.agents)


def scrape(http: str) -> dict[str, float]:
    """A member's /metrics as {"name{labels}": value}, comments left out."""
    import urllib.request

    with urllib.request.urlopen(f"{http}/metrics", timeout=5) as response:
        body = response.read().decode()
    figures = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            figures[name] = float(value)
    return figures


def figure(figures: dict[str, float], name: str) -> float | None:
    """The sum of ``name``'s samples (None: no such metric)."""
    found = [value for key, value in figures.items() if key.split("{")[0] == name]
    return sum(found) if found else None


async def measure_restore(target: stack.Target, args: argparse.Namespace) -> RestoreResult:
    primary, backup = target.servers
    assert primary.process is not None and backup.process is not None
    filling = Filling(target, args)
    assigned = [Customer(n) for n in range(args.restore)]
    waiting = [Customer(args.restore + n) for n in range(args.restore_queued)]
    try:
        began = time.perf_counter()
        await filling.open_agents()
        await filling.start_all(assigned, waits=False)
        await filling.until_assigned(args.restore)
        # Nothing leaves the queue while it fills: each place is the order of arrival.
        await filling.start_all(waiting, waits=True)
        filled = time.perf_counter() - began
        logger.info("restore: %d chats assigned and %d waiting on %s in %.1f s; killing it", args.restore,
                    args.restore_queued, primary.name, filled)
        primary_rss = stack.usage(primary.process.pid).rss_bytes
        primary.kill()
        killed = time.perf_counter()
        served_after = await stack.served_after(backup, killed, args.timeout)
        figures = await asyncio.to_thread(scrape, backup.http)
        backup_rss = stack.usage(backup.process.pid).rss_bytes
        logger.info("restore: %s serves %s s after the kill; every waiting customer resumes there", backup.name,
                    "never" if served_after is None else f"{served_after:.2f}")
        await filling.resume_all(backup.ws, waiting)
    finally:
        await filling.end()
    # In the queue's order before the kill: the places after it must rise along it.
    by_place = sorted((c for c in waiting if c.place is not None), key=lambda c: c.place)
    places = [customer.place_after for customer in by_place if customer.place_after is not None]
    return RestoreResult(
        chats=args.restore, messages=args.restore_messages, queued=args.restore_queued,
        agents=len(target.agent_cookies), filled_seconds=filled,
        primary_rss=primary_rss, served_after=served_after,
        restore_seconds=figure(figures, "chat_restore_seconds_sum"),
        restored=figure(figures, "chat_sessions_restored_total"),
        open_after=figure(figures, "chat_open_sessions"), queued_after=figure(figures, "chat_queued_sessions"),
        backup_rss_after=backup_rss, resumed=sum(customer.resumed for customer in waiting), with_place=len(places),
        out_of_order=inversions(places),
        places_twice=len(places) - len(set(places)), errors=len(filling.errors.frames),
    )


def _count(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


def render_restore(r: RestoreResult) -> str:
    problems = r.problems()
    mib = 1024 * 1024
    restore = "?" if r.restore_seconds is None else f"{r.restore_seconds * 1000:.0f} ms"
    served = "never" if r.served_after is None else f"{r.served_after:.2f} s"
    return "\n".join([
        f"restore: {r.chats} open chats ({r.agents} agents, {r.messages} customer messages each) and "
        f"{r.queued} waiting, on the primary "
        f"(filled in {r.filled_seconds:.1f} s; RSS {r.primary_rss / mib:.1f} MiB); then kill -9",
        f"backup serving (/readyz 200) after {served}; restoration (chat_restore_seconds) {restore}: "
        f"{_count(r.restored)} sessions; then open {_count(r.open_after)}, waiting {_count(r.queued_after)}; "
        f"its RSS {r.backup_rss_after / mib:.1f} MiB",
        f"waiting customers resumed on the new primary: {r.resumed} of {r.queued}, with a place {r.with_place}; "
        f"pairs out of the queue's order {r.out_of_order}, given twice {r.places_twice}; error frames {r.errors}",
        "OK" if not problems else "FAILED: " + "; ".join(problems),
    ])


def run(args: argparse.Namespace) -> int:
    """--restore: the pair, the filling, the kill, the figures; everything removed after."""
    raise_open_files_limit()
    agents = args.restore_agents
    try:
        check_open_files(os.getpid(), agents + 2 * FILL_CONCURRENCY, "this process")
        # agent-capacity: N / agents (BenchStack), so that the N chats fill every agent.
        with stack.BenchStack(chats=args.restore, agents=agents, pair=True, options={
            **RESTORE_OPTIONS, "queue-max-waiting": str(max(args.restore_queued + 1, 10000)),
        }) as bench:
            result = asyncio.run(measure_restore(bench.target, args))
            bench.keep_logs = bool(result.problems())
    except KeyboardInterrupt:
        logger.warning("interrupted: servers stopped, rows and keys removed")
        return 130
    print(render_restore(result))
    return 0 if not result.problems() else 1
