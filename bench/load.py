"""Measure our chat path against the plainest Channels group chat, in one run;
or, with --failover, how a pair carries its chats through kills of its serving member;
or, with --idle and --surge, one instance at contact-center scale (issue 14).

    .venv/bin/python bench/load.py --chats 200 --messages 20
    .venv/bin/python bench/load.py --chats 1000 --messages 20 --rate 1 --paths ours
    .venv/bin/python bench/load.py --failover --chats 100
    .venv/bin/python bench/load.py --failover --chats 300 --kills 20 --interval 1
    .venv/bin/python bench/load.py --failover --stop --chats 1000 --interval 1
    .venv/bin/python bench/load.py --idle 10000 --window-seconds 30
    .venv/bin/python bench/load.py --surge 5000 --surge-seconds 10 --surge-agents 100
    .venv/bin/python bench/load.py --chats 200 --messages 20 --paths ours --transcripts

By default it starts its own chat server (its own application row, agents,
REDIS_PREFIX and port; BENCH_BASELINE=1 so the baseline route exists), runs
both paths against that one process, prints the figures and removes what it
made. --rate sends on a schedule (open loop) instead of one message after the
other, on our path only unless --paths says otherwise. --failover starts a
pair instead and kill -9s its serving member mid-run, --kills times in a row,
restarting it as backup after each; --stop sends SIGTERM instead (a planned
stop, which hands the pair over). --idle N opens N chats and leaves them silent:
the server's CPU, memory per chat, threads and descriptors at rest, then one
message per chat. --surge N has N customers start within --surge-seconds with no
agent, then --surge-agents agents drain the queue: start -> started, the CPU
until quiet, the drain rate and its order (bench/scale.py). See bench/README.md.
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

from bench import restore, scale, stack, transcripts
from bench.clients import Baseline, ChatPath, Exchange, FailoverExchange, HandOver, OpenLoopExchange, Ours
from bench.report import FailoverResult, Result, Takeover, percentile_ms, render, render_failover

logger = logging.getLogger("bench")

PATHS = ("ours", "baseline")
# How often the failover mode looks at the stopped process after the signal (and,
# in stack.served_after, at the new primary's /readyz): the resolution of "exited after".
READY_POLL_SECONDS = stack.READY_POLL_SECONDS
# How often it asks a restarted member for its role: the resolution of "back as backup".
RESTART_POLL_SECONDS = 0.1
# Each customer's pace in the failover mode unless --interval or --rate says otherwise.
DEFAULT_INTERVAL_SECONDS = 0.25


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=200, help="concurrent chats, each a customer and an agent socket")
    parser.add_argument("--messages", type=int, default=20,
                        help="messages each customer sends (the failover mode: at least this many)")
    parser.add_argument("--window", type=int, default=1,
                        help="messages a customer may have unacknowledged (1: send, wait for own copy, send)")
    parser.add_argument("--rate", type=float, metavar="R",
                        help="open loop: each customer sends R messages a second on a schedule, whatever comes "
                             "back; latency from the scheduled send (default path: ours)")
    parser.add_argument("--agents", type=int, help="agent sockets on our path (default: one per chat)")
    parser.add_argument("--size", type=int, default=100, help="characters of text per message")
    parser.add_argument("--paths", help="which paths to run, in order: ours,baseline (default: both; with --rate, "
                                        "ours)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds each phase may take before it is cut")
    parser.add_argument("--url", help="a running instance (ws://127.0.0.1:PORT) instead of our own; it must be "
                                      "started with BENCH_BASELINE=1 for the baseline and use this DATABASE_URL")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="sample the server with py-spy during each exchange: DIR/<path>.speedscope.json")
    parser.add_argument("--transcripts", action="store_true",
                        help="run a transcript worker beside the server; once our path's chats are closed, wait "
                             "until every transcript is complete and give the time from the last closed to the "
                             "last transcript complete (bench/transcripts.py; not with --url or --failover)")
    failover = parser.add_argument_group("failover mode")
    failover.add_argument("--failover", action="store_true",
                          help="start a pair, kill -9 its serving member mid-run, measure the takeover (our path "
                               "only)")
    failover.add_argument("--kills", type=int, default=1, metavar="N",
                          help="kill the serving member N times in a row, restarting it as backup after each "
                               "(default 1)")
    failover.add_argument("--stop", action="store_true",
                          help="a planned stop: SIGTERM instead of SIGKILL (the member hands the pair over, then "
                               "exits)")
    failover.add_argument("--redis-sentinel", action="store_true",
                          help="run the pair on a local Redis Sentinel setup (a master, a replica, three "
                               "sentinels) and kill -9 the Redis master instead of a chat member (issue 11)")
    failover.add_argument("--no-standby", action="store_true",
                          help="clients keep no standby socket to the other member (as pages before issue 8's "
                               "standby sockets): every reconnect is a new handshake")
    failover.add_argument("--interval", type=float, metavar="SECONDS",
                          help=f"each customer sends one message this often (default {DEFAULT_INTERVAL_SECONDS}; "
                               "--rate R is --interval 1/R)")
    failover.add_argument("--kill-after", type=float, metavar="SECONDS",
                          help="the first kill this long into the exchange, each next one this long after the "
                               "previous takeover (default: a third of --messages x --interval)")
    scaled = parser.add_argument_group("scale modes (issue 14; bench/scale.py)")
    scaled.add_argument("--idle", type=int, metavar="N",
                        help="open N chats (one agent socket each), leave them silent for --window-seconds: the "
                             "server's CPU, RSS per chat, threads, descriptors; then one message per chat")
    scaled.add_argument("--window-seconds", type=float, default=30, metavar="SECONDS",
                        help="--idle: how long the chats stay silent while the server is watched (default 30)")
    scaled.add_argument("--surge", type=int, metavar="N",
                        help="N customers start within --surge-seconds with no agent (open loop), then "
                             "--surge-agents agents drain the queue, closing each chat at once")
    scaled.add_argument("--surge-seconds", type=float, default=10, metavar="SECONDS",
                        help="--surge: the starts are spread evenly over this long (default 10)")
    scaled.add_argument("--surge-agents", type=int, default=100, metavar="N",
                        help="--surge: agents that drain the queue, one chat at a time each (default 100)")
    scaled.add_argument("--restore", type=int, metavar="N",
                        help="a pair whose primary holds N open chats and a --restore-queued deep queue is "
                             "killed -9: the backup's restoration, and the queue's order after it (bench/restore.py)")
    scaled.add_argument("--restore-queued", type=int, default=0, metavar="M",
                        help="--restore: chats waiting for an agent at the kill (default 0)")
    scaled.add_argument("--restore-agents", type=int, default=100, metavar="A",
                        help="--restore: agents holding the N chats, N / A each (default 100)")
    scaled.add_argument("--restore-messages", type=int, default=0, metavar="K",
                        help="--restore: messages each of the N chats' customers writes before the kill, "
                             "so that the logs a takeover reads are that much longer (default 0)")
    args = parser.parse_args(argv)
    if args.restore is not None:
        if args.idle is not None or args.surge is not None or args.failover or args.url:
            parser.error("--restore is a run of its own: no --idle, --surge, --failover or --url")
        if args.restore < 1 or args.restore_queued < 0 or args.restore_agents < 1 or args.restore_messages < 0:
            parser.error("--restore and --restore-agents must be at least 1, --restore-queued and "
                         "--restore-messages at least 0")
        return args
    if args.idle is not None or args.surge is not None:
        if args.idle is not None and args.surge is not None:
            parser.error("--idle and --surge are two runs: give one of them")
        if args.failover or args.url or args.profile or args.rate is not None:
            parser.error("--idle and --surge watch the bench's own single server: no --failover, --url, "
                         "--profile or --rate")
        if min(args.idle or 1, args.surge or 1, args.surge_agents) < 1 or min(
                args.window_seconds, args.surge_seconds) <= 0:
            parser.error("--idle, --surge and --surge-agents must be at least 1, --window-seconds and "
                         "--surge-seconds above 0")
        return args
    if args.paths is None:
        args.paths = "ours" if args.rate is not None else ",".join(PATHS)
    args.paths = [name.strip() for name in args.paths.split(",") if name.strip()]
    if not args.paths or set(args.paths) - set(PATHS):
        parser.error(f"--paths takes names from {', '.join(PATHS)}")
    if min(args.chats, args.messages, args.window, args.size, args.kills) < 1 or (
            args.agents is not None and args.agents < 1):
        parser.error("--chats, --messages, --window, --size, --kills and --agents must be at least 1")
    if args.transcripts and (args.url or args.failover or "ours" not in args.paths):
        parser.error("--transcripts needs the bench's own single server and our path: no --url or --failover")
    if args.url and args.profile:
        parser.error("--profile needs the bench's own server; drop --url")
    if args.failover and (args.url or args.profile):
        parser.error("--failover starts and kills its own pair: no --url or --profile")
    if args.redis_sentinel and (not args.failover or args.stop or args.kills != 1):
        parser.error("--redis-sentinel goes with --failover, one kill, no --stop")
    if not args.failover and (args.stop or args.kills != 1 or args.kill_after is not None):
        parser.error("--kills, --stop and --kill-after go with --failover")
    if args.rate is not None and (args.rate <= 0 or args.window != 1):
        parser.error("--rate must be above 0, and takes no --window (it does not wait for acknowledgements)")
    if args.rate is not None and args.interval is not None:
        parser.error("--rate R is --interval 1/R: give one of them")
    if (args.interval is not None and args.interval <= 0) or (args.kill_after is not None and args.kill_after < 0):
        parser.error("--interval must be above 0 and --kill-after 0 or more")
    if args.interval is None:
        args.interval = 1 / args.rate if args.rate is not None else DEFAULT_INTERVAL_SECONDS
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
            text = "x" * args.size
            exchange = (Exchange(args.messages, args.window, text) if args.rate is None
                        else OpenLoopExchange(args.messages, 1, text, rate=args.rate))
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


async def measure_failover(target: stack.Target, args: argparse.Namespace,
                           sentinel: stack.SentinelSetup | None = None) -> FailoverResult:
    """Chats on the pair; the serving member killed (or stopped) --kills times under load,
    restarted as backup after each; every takeover timed, every client's view checked.

    Customers send on their schedule from the opening until the last kill is over
    (its takeover done, the member back as backup), and at least --messages each.
    """
    # What a page does: it is given the primary and asks it for the backup.
    pair = await asyncio.to_thread(stack.topology, target.http)
    servers = [target.ws, stack.local_ws(pair["backup"]["ws"])]
    if servers[1] != target.servers[1].ws:
        raise RuntimeError(f"the topology names {servers[1]} as backup, not {target.servers[1].ws}")
    exchange = FailoverExchange(servers, target, args.messages, args.interval, "x" * args.size,
                                standby=not args.no_standby)
    what = "stop" if args.stop else "kill"
    done: list[tuple[Takeover, HandOver]] = []
    cut_short = None
    running: asyncio.Task[bool] | None = None
    try:
        opening = time.perf_counter()
        await exchange.open(args.chats, args.timeout)
        logger.info("failover: %d chats open in %.1f s; each customer sends one message every %.0f ms, at least %d; "
                    "%d %s(s) of the serving member, the first %.1f s in", args.chats, time.perf_counter() - opening,
                    args.interval * 1000, args.messages, args.kills, what, args.kill_after)
        running = asyncio.create_task(exchange.run(args.timeout))
        for number in range(1, args.kills + 1):
            await asyncio.sleep(args.kill_after)
            if sentinel is not None:
                outcome = await _kill_redis_master(sentinel, target.servers, exchange, args)
            else:
                outcome = await _take_over(number, target.servers, exchange, args)
            if outcome is None:
                cut_short = "no single member served before it"
                break
            done.append(outcome)
            takeover = outcome[0]
            if takeover.served_after is None or takeover.back_after is None or len(
                    takeover.first_delivery) < args.chats:
                cut_short = f"{what} {number} did not carry the chats over (see its row)"
                break
        exchange.stop_sending()
        completed = await running
        counts = exchange.verdict()
        epoch_after = await _epoch(target.servers)
    finally:
        if running is not None and not running.done():
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
        await exchange.end()
    for takeover, hand_over in done:
        disconnects = exchange.disconnects_after(hand_over)
        takeover.disconnects = len(disconnects)
        takeover.own_copy = exchange.own_copy_waits(hand_over)
        if args.stop and disconnects:
            logger.warning("stop %d: %d disconnected events after the SIGTERM (a planned stop should cause none); "
                           "the first: %s", takeover.number, len(disconnects), disconnects[0])
    latencies, steady = exchange.latencies()
    clients = exchange.clients
    return FailoverResult(
        chats=args.chats, messages=args.messages, interval=args.interval, planned=args.stop, kills=args.kills,
        killed_after=args.kill_after, takeovers=[takeover for takeover, _ in done],
        epoch_moved=None if epoch_after is None else epoch_after - pair["epoch"],
        latencies=latencies, steady=steady,
        sent=sum(len(chat.sent) for chat in exchange.chats.values()),
        held=sum(client.held for client in clients), resent=sum(client.resent for client in clients),
        repeats=sum(client.repeats for client in clients),
        reconnects=sum(client.reconnects for client in clients),
        standby_resumes=sum(client.standby_resumes for client in clients),
        gave_up=sum(client.gave_up for client in clients),
        errors=sum(len(client.errors) for client in clients), counts=counts, completed=completed,
        unavailable=sum(client.unavailable for client in clients), redis_killed=sentinel is not None,
        cut_short=cut_short,
    )


async def _take_over(number: int, servers: list[stack.ServerProcess], exchange: FailoverExchange,
                     args: argparse.Namespace) -> tuple[Takeover, HandOver] | None:
    """One kill (SIGKILL, or SIGTERM with --stop) of whichever member serves: the other's
    takeover timed, every chat's first delivery through it, then the killed member
    restarted and back as backup, and the epoch it all moved. None: nobody served."""
    serving = await _serving(servers, args.timeout)
    if serving is None:
        return None
    other = next(server for server in servers if server is not serving)
    before = await _epoch(servers)
    sig = signal.SIGTERM if args.stop else signal.SIGKILL
    assert serving.process is not None
    pid = serving.process.pid
    serving.kill(sig)
    at = time.perf_counter()
    hand_over = exchange.hand_over(at, other.ws)
    logger.info("%s %d of %d: sent %s to %s (pid %d), the serving member", "stop" if args.stop else "kill",
                number, args.kills, sig.name, serving.name, pid)
    exiting = asyncio.create_task(_exited_after(serving, at, args.timeout))
    served_after = await stack.served_after(other, at, args.timeout)
    logger.info("%s serves %s s after the %s", other.name,
                "never" if served_after is None else f"{served_after:.2f}", sig.name)
    if served_after is not None:
        await exchange.delivered_through(hand_over, args.timeout)
    exited_after = await exiting
    if exited_after is None:
        logger.warning("%s did not exit within %s s of the %s; killing it", serving.name, args.timeout, sig.name)
        serving.kill()
        await asyncio.to_thread(serving.process.wait)
    back_after = await _restart(serving, args.timeout)
    after = await _epoch(servers)
    takeover = Takeover(
        number=number, member=serving.name, signal=sig.name, served_after=served_after,
        first_delivery=list(hand_over.first_delivery.values()),
        epoch_moved=None if before is None or after is None else after - before,
        back_after=back_after, exited_after=exited_after,
    )
    logger.info("%s %d of %d: served after %s s, first delivery p99 %.0f ms (%d of %d chats), epoch moved by %s, "
                "%s back as backup after %s s", "stop" if args.stop else "kill", number, args.kills,
                "never" if served_after is None else f"{served_after:.2f}",
                percentile_ms(takeover.first_delivery, 99), len(takeover.first_delivery), len(exchange.chats),
                takeover.epoch_moved, serving.name, "never" if back_after is None else f"{back_after:.1f}")
    return takeover, hand_over


async def _kill_redis_master(sentinel: stack.SentinelSetup, servers: list[stack.ServerProcess],
                             exchange: FailoverExchange, args: argparse.Namespace) -> tuple[Takeover, HandOver] | None:
    """kill -9 of the Redis master under the chats (issue 11): the sentinels promote
    the replica; timed: until one chat member serves at a later epoch ("served after"), and
    every chat's first message delivered after the kill, through whichever member
    serves then. "Back as backup" is when the other member calls itself backup."""
    before = await _epoch(servers)
    master = await asyncio.to_thread(sentinel.master_port)
    if master is None:
        return None
    at = time.perf_counter()
    sentinel.kill_redis(master)
    hand_over = exchange.hand_over(at, None)
    logger.info("redis kill: sent SIGKILL to the Redis master (port %d)", master)
    # The primary gives the role up when it cannot renew for a lease; served again means
    # one member serving at a later epoch, on the promoted replica.
    serving = await _serving_again(servers, before, args.timeout)
    served_after = None if serving is None else time.perf_counter() - at
    logger.info("redis kill: %s serves %s s after the kill, the sentinels name port %s as master",
                "nobody" if serving is None else serving.name,
                "never" if served_after is None else f"{served_after:.2f}", sentinel.master_port())
    if serving is not None:
        await exchange.delivered_through(hand_over, args.timeout)
        other = next(server for server in servers if server is not serving)
        back_after = await _backup_after(other, at, args.timeout)
    else:
        back_after = None
    after = await _epoch(servers)
    takeover = Takeover(
        number=1, member=f"redis :{master}", signal="SIGKILL", served_after=served_after,
        first_delivery=list(hand_over.first_delivery.values()),
        epoch_moved=None if before is None or after is None else after - before,
        back_after=back_after, exited_after=None,
    )
    logger.info("redis kill: first delivery p99 %.0f ms (%d of %d chats), epoch moved by %s",
                percentile_ms(takeover.first_delivery, 99), len(takeover.first_delivery), len(exchange.chats),
                takeover.epoch_moved)
    return takeover, hand_over


async def _serving_again(servers: list[stack.ServerProcess], before: int | None,
                         timeout: float) -> stack.ServerProcess | None:
    """The one member serving at an epoch past ``before``; None if none within ``timeout``."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        epoch = await _epoch(servers)
        if before is None or (epoch is not None and epoch > before):
            return await _serving(servers, max(deadline - time.perf_counter(), 0))
        await asyncio.sleep(READY_POLL_SECONDS)
    return None


async def _backup_after(server: stack.ServerProcess, at: float, timeout: float) -> float | None:
    """Seconds from ``at`` until ``server`` calls itself backup in its topology."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            if (await asyncio.to_thread(stack.topology, server.http))["self"]["role"] == "backup":
                return time.perf_counter() - at
        except (OSError, ValueError, KeyError):
            pass
        await asyncio.sleep(READY_POLL_SECONDS)
    return None


async def _serving(servers: list[stack.ServerProcess], timeout: float) -> stack.ServerProcess | None:
    """The one member whose /readyz answers 200; None if there is not exactly one within ``timeout``."""
    deadline = time.perf_counter() + timeout
    while True:
        statuses = await asyncio.gather(*(
            asyncio.to_thread(stack.http_status, f"{server.http}/readyz", 0.5) for server in servers
        ))
        serving = [server for server, status in zip(servers, statuses, strict=True) if status == 200]
        if len(serving) == 1:
            return serving[0]
        if time.perf_counter() > deadline:
            logger.warning("no single member serves: /readyz %s", dict(zip([s.name for s in servers], statuses,
                                                                           strict=True)))
            return None
        await asyncio.sleep(READY_POLL_SECONDS)


async def _epoch(servers: list[stack.ServerProcess]) -> int | None:
    """The pair's epoch: the highest either member's /api/ha/topology tells (None: neither answered)."""

    async def one(server: stack.ServerProcess) -> int | None:
        try:
            return int((await asyncio.to_thread(stack.topology, server.http))["epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    epochs = [epoch for epoch in await asyncio.gather(*(one(server) for server in servers)) if epoch is not None]
    return max(epochs, default=None)


async def _exited_after(server: stack.ServerProcess, since: float, timeout: float) -> float | None:
    """Seconds from ``since`` to ``server``'s process exiting; None if not within ``timeout``."""
    assert server.process is not None
    while server.process.poll() is None:
        if time.perf_counter() - since > timeout:
            return None
        await asyncio.sleep(READY_POLL_SECONDS)
    return time.perf_counter() - since


async def _restart(server: stack.ServerProcess, timeout: float) -> float | None:
    """Start ``server`` again (same application row, its log appended to) and return the
    seconds until its topology calls it backup; None if it exits, serves instead, or
    is not backup within ``timeout``."""
    server.start()
    assert server.process is not None
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        if server.process.poll() is not None:
            logger.warning("%s exited with %d after its restart; see %s", server.name, server.process.returncode,
                           server.log_path)
            return None
        try:
            role = (await asyncio.to_thread(stack.topology, server.http, 0.5))["self"]["role"]
        except (OSError, ValueError, KeyError, TypeError):
            role = None
        if role == "backup":
            return time.perf_counter() - began
        if role == "primary":
            logger.warning("%s came back as primary, not backup; see %s", server.name, server.log_path)
            return None
        await asyncio.sleep(RESTART_POLL_SECONDS)
    logger.warning("%s was not backup within %s s of its restart; see %s", server.name, timeout, server.log_path)
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    # SIGTERM cleans up like Ctrl-C: the server stops, the rows and keys go.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sentinel = stack.start_sentinel() if args.redis_sentinel else None  # before Django reads the settings
    stack.setup_django()
    if args.idle is not None or args.surge is not None:
        return scale.run(args)
    if args.restore is not None:
        return restore.run(args)
    agents = args.agents or args.chats
    try:
        with stack.BenchStack(chats=args.chats, agents=agents, url=args.url, pair=args.failover) as bench, \
                transcripts.worker_beside(bench, args.transcripts):
            if args.failover:
                outcome = asyncio.run(measure_failover(bench.target, args, sentinel))
                clean = outcome.clean  # an epoch that moved by 2 fails it too: the logs are worth reading
                report = render_failover(outcome)
            else:
                results = asyncio.run(measure(bench.target, args))
                clean = all(r.lost == r.duplicates == r.errors == r.dropped == 0 for r in results)
                report = render(results, args.messages, args.window, args.rate)
                if args.transcripts:
                    figure = transcripts.wait_complete(bench.run_id, args.chats, args.timeout)
                    clean = clean and figure.clean
                    report += "\n" + figure.render()
            bench.keep_logs = not clean
    except KeyboardInterrupt:
        logger.warning("interrupted: servers stopped, rows and keys removed")
        return 130
    finally:
        if sentinel is not None:
            sentinel.stop()
    print(report)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
