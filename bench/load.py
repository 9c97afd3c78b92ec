"""Measure our chat path against the plainest Channels group chat, in one run;
or, with --failover, how a pair carries its chats through a kill -9 of the primary.

    .venv/bin/python bench/load.py --chats 200 --messages 20
    .venv/bin/python bench/load.py --failover --chats 100

By default it starts its own chat server (its own application row, agents,
REDIS_PREFIX and port; BENCH_BASELINE=1 so the baseline route exists), runs
both paths against that one process, prints the figures and removes what it
made. --failover starts a pair instead and kills its primary mid-run. See
bench/README.md.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import signal
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench import stack
from bench.clients import Baseline, ChatPath, Exchange, FailoverExchange, Ours
from bench.report import FailoverResult, Result, render, render_failover

logger = logging.getLogger("bench")

PATHS = ("ours", "baseline")
# How often the failover mode looks at the backup's /readyz after the kill: the
# resolution of "time to serve".
READY_POLL_SECONDS = 0.02


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=200, help="concurrent chats, each a customer and an agent socket")
    parser.add_argument("--messages", type=int, default=20, help="messages each customer sends")
    parser.add_argument("--window", type=int, default=1,
                        help="messages a customer may have unacknowledged (1: send, wait for own copy, send)")
    parser.add_argument("--agents", type=int, help="agent sockets on our path (default: one per chat)")
    parser.add_argument("--size", type=int, default=100, help="characters of text per message")
    parser.add_argument("--paths", default=",".join(PATHS), help="which paths to run, in order: ours,baseline")
    parser.add_argument("--timeout", type=float, default=120, help="seconds each phase may take before it is cut")
    parser.add_argument("--url", help="a running instance (ws://127.0.0.1:PORT) instead of our own; it must be "
                                      "started with BENCH_BASELINE=1 for the baseline and use this DATABASE_URL")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="sample the server with py-spy during each exchange: DIR/<path>.speedscope.json")
    failover = parser.add_argument_group("failover mode")
    failover.add_argument("--failover", action="store_true",
                          help="start a pair, kill -9 its primary mid-run, measure the takeover (our path only)")
    failover.add_argument("--interval", type=float, default=0.25, metavar="SECONDS",
                          help="each customer sends one message this often (default 0.25)")
    failover.add_argument("--kill-after", type=float, metavar="SECONDS",
                          help="kill the primary this long into the exchange (default: a third of it)")
    args = parser.parse_args(argv)
    args.paths = [name.strip() for name in args.paths.split(",") if name.strip()]
    if not args.paths or set(args.paths) - set(PATHS):
        parser.error(f"--paths takes names from {', '.join(PATHS)}")
    if min(args.chats, args.messages, args.window, args.size) < 1 or (args.agents is not None and args.agents < 1):
        parser.error("--chats, --messages, --window, --size and --agents must be at least 1")
    if args.url and args.profile:
        parser.error("--profile needs the bench's own server; drop --url")
    if args.failover and (args.url or args.profile):
        parser.error("--failover starts and kills its own pair: no --url or --profile")
    if args.interval <= 0 or (args.kill_after is not None and args.kill_after < 0):
        parser.error("--interval must be above 0 and --kill-after 0 or more")
    if args.kill_after is None:
        args.kill_after = args.messages * args.interval / 3
    return args


async def measure(target: stack.Target, args: argparse.Namespace) -> list[Result]:
    """Each path in turn against the same server: open the chats, exchange, end them."""
    paths: dict[str, ChatPath] = {"ours": Ours(target), "baseline": Baseline(target)}
    results = []
    for name in args.paths:
        path = paths[name]
        opening = time.perf_counter()
        chats = await path.open(args.chats, args.timeout)
        opened = time.perf_counter() - opening
        logger.info("%s: %d chats open in %.1f s; exchanging %d messages each", name, args.chats, opened, args.messages)
        try:
            exchange = Exchange(args.messages, args.window, "x" * args.size)
            with profiled(target, name, args.profile):
                result = await exchange.run(name, chats, args.timeout)
            results.append(dataclasses.replace(result, open_seconds=opened))
        finally:
            await path.end(chats)
    return results


def profiled(target: stack.Target, path: str, directory: Path | None) -> AbstractContextManager[None]:
    """py-spy on our server during one exchange, when --profile asks and the server is ours."""
    if directory is None or target.server is None:
        return nullcontext()
    directory.mkdir(parents=True, exist_ok=True)
    return target.server.profiled(directory / f"{path}.speedscope.json")


async def measure_failover(target: stack.Target, args: argparse.Namespace) -> FailoverResult:
    """Chats on the pair, the primary killed mid-exchange, the backup's takeover timed."""
    primary, backup = target.servers
    # What a page does: it is given the primary and asks it for the backup.
    pair = await asyncio.to_thread(stack.topology, target.http)
    servers = [target.ws, stack.local_ws(pair["backup"]["ws"])]
    if servers[1] != backup.ws:
        raise RuntimeError(f"the topology names {servers[1]} as backup, not {backup.ws}")
    exchange = FailoverExchange(servers, target, args.messages, args.interval, "x" * args.size)
    opening = time.perf_counter()
    await exchange.open(args.chats, args.timeout)
    logger.info("failover: %d chats open in %.1f s; each customer sends %d messages, one every %.0f ms; "
                "the primary dies %.1f s in", args.chats, time.perf_counter() - opening, args.messages,
                args.interval * 1000, args.kill_after)
    try:
        running = asyncio.create_task(exchange.run(args.timeout))
        await asyncio.sleep(args.kill_after)
        primary.kill()
        exchange.killed_at = killed = time.perf_counter()
        logger.info("failover: killed %s (pid %d) with SIGKILL", primary.name, primary.process.pid)
        served_after = await _served_after(backup, killed, args.timeout)
        logger.info("failover: %s serves %s s after the kill", backup.name,
                    "never" if served_after is None else f"{served_after:.2f}")
        completed = await running
        counts = exchange.verdict()
        epoch_after = (await asyncio.to_thread(stack.topology, backup.http))["epoch"]
    finally:
        await exchange.end()
    clients = exchange.clients
    return FailoverResult(
        chats=args.chats, messages=args.messages, interval=args.interval, killed_after=args.kill_after,
        served_after=served_after, first_delivery=list(exchange.first_delivery.values()),
        sent=sum(len(chat.sent) for chat in exchange.chats.values()),
        held=sum(client.held for client in clients), resent=sum(client.resent for client in clients),
        repeats=sum(client.repeats for client in clients),
        reconnects=sum(client.reconnects for client in clients), gave_up=sum(client.gave_up for client in clients),
        errors=sum(len(client.errors) for client in clients), counts=counts, completed=completed,
        takeovers=epoch_after - pair["epoch"],
    )


async def _served_after(server: stack.ServerProcess, since: float, timeout: float) -> float | None:
    """Seconds from ``since`` to ``server``'s first /readyz 200; None if not within ``timeout``."""
    url = f"{server.http}/readyz"
    while time.perf_counter() - since < timeout:
        if await asyncio.to_thread(stack.http_status, url, 0.5) == 200:
            return time.perf_counter() - since
        await asyncio.sleep(READY_POLL_SECONDS)
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    # SIGTERM cleans up like Ctrl-C: the server stops, the rows and keys go.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    stack.setup_django()
    agents = args.agents or args.chats
    try:
        with stack.BenchStack(chats=args.chats, agents=agents, url=args.url, pair=args.failover) as bench:
            if args.failover:
                outcome = asyncio.run(measure_failover(bench.target, args))
                clean = outcome.clean
                report = render_failover(outcome)
                bench.keep_logs = outcome.takeovers != 1  # worth reading even when nothing was lost
            else:
                results = asyncio.run(measure(bench.target, args))
                clean = all(r.lost == r.duplicates == r.errors == r.dropped == 0 for r in results)
                report = render(results, args.messages, args.window)
            bench.keep_logs = bench.keep_logs or not clean
    except KeyboardInterrupt:
        logger.warning("interrupted: servers stopped, rows and keys removed")
        return 130
    print(report)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
