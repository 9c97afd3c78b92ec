"""Measure our chat path against the plainest Channels group chat, in one run.

    .venv/bin/python bench/load.py --chats 200 --messages 20

By default it starts its own chat server (its own application row, agents,
REDIS_PREFIX and port; BENCH_BASELINE=1 so the baseline route exists), runs
both paths against that one process, prints the figures and removes what it
made. See bench/README.md.
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
from bench.clients import Baseline, ChatPath, Exchange, Ours
from bench.report import Result, render

logger = logging.getLogger("bench")

PATHS = ("ours", "baseline")


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
    args = parser.parse_args(argv)
    args.paths = [name.strip() for name in args.paths.split(",") if name.strip()]
    if not args.paths or set(args.paths) - set(PATHS):
        parser.error(f"--paths takes names from {', '.join(PATHS)}")
    if min(args.chats, args.messages, args.window, args.size) < 1 or (args.agents is not None and args.agents < 1):
        parser.error("--chats, --messages, --window, --size and --agents must be at least 1")
    if args.url and args.profile:
        parser.error("--profile needs the bench's own server; drop --url")
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    # SIGTERM cleans up like Ctrl-C: the server stops, the rows and keys go.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    stack.setup_django()
    agents = args.agents or args.chats
    with stack.BenchStack(chats=args.chats, agents=agents, url=args.url) as bench:
        results = asyncio.run(measure(bench.target, args))
        clean = all(r.lost == r.duplicates == r.errors == r.dropped == 0 for r in results)
        bench.keep_logs = not clean
    print(render(results, args.messages, args.window))
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
