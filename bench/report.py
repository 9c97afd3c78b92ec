"""What a run measured, and the table that compares the paths."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field


def percentile_ms(values: list[float], percent: float) -> float:
    """The nearest-rank percentile of ``values`` (seconds), in ms; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(math.ceil(percent / 100 * len(ordered)), 1) - 1] * 1000


@dataclass
class Result:
    """One path's exchange: counts (``dropped``: sockets the server closed), the time
    from first send to last delivery, latencies in seconds, and how long opening
    the chats took (not part of the exchange). ``send_lags``, open loop only: how
    late each send went out after its scheduled time (the bench's own lag, which
    the latency includes, since it is measured from the schedule)."""

    path: str
    chats: int
    expected: int
    delivered: int
    duplicates: int
    errors: int
    dropped: int
    seconds: float
    latencies: list[float]
    open_seconds: float = 0.0
    send_lags: list[float] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.expected - self.delivered

    @property
    def rate(self) -> float:
        """Messages delivered per second."""
        return self.delivered / self.seconds if self.seconds > 0 else 0.0

    def latency_ms(self, percent: float) -> float:
        """The nearest-rank percentile of the delivery latency, in ms."""
        return percentile_ms(self.latencies, percent)


# Each column: title, width, the cell of a result.
COLUMNS: list[tuple[str, int, Callable[[Result], str]]] = [
    ("path", -10, lambda r: r.path),
    ("msgs/s", 9, lambda r: f"{r.rate:.0f}"),
    ("p50 ms", 9, lambda r: f"{r.latency_ms(50):.1f}"),
    ("p99 ms", 9, lambda r: f"{r.latency_ms(99):.1f}"),
    ("max ms", 9, lambda r: f"{r.latency_ms(100):.1f}"),
    ("delivered", 10, lambda r: str(r.delivered)),
    ("lost", 6, lambda r: str(r.lost)),
    ("dup", 5, lambda r: str(r.duplicates)),
    ("errors", 7, lambda r: str(r.errors)),
    ("dropped", 8, lambda r: str(r.dropped)),
    ("open s", 7, lambda r: f"{r.open_seconds:.1f}"),
]


def _row(cells: list[str]) -> str:
    return "".join(
        cell.ljust(-width) if width < 0 else cell.rjust(width)
        for cell, (_, width, _) in zip(cells, COLUMNS, strict=True)
    )


def render(results: list[Result], messages: int, window: int, rate: float | None = None) -> str:
    """A table of every path, then ours/baseline when both ran. ``rate``: the open
    loop's messages per second per customer (None: the closed loop of ``window``)."""
    if rate is None:
        how = f"window {window}; latency = customer send -> agent receipt"
    else:
        how = (f"open loop, {rate:g} msg/s per customer at a random phase; "
               "latency = scheduled send -> agent receipt")
    lines = [
        f"{results[0].chats} chats x {messages} messages, {how}",
        _row([title for title, _, _ in COLUMNS]),
        *(_row([cell(r) for _, _, cell in COLUMNS]) for r in results),
    ]
    for r in results:
        if r.send_lags:
            lines.append(
                f"{r.path}: sends went out p50 {percentile_ms(r.send_lags, 50):.1f} ms, "
                f"p99 {percentile_ms(r.send_lags, 99):.1f} ms, max {percentile_ms(r.send_lags, 100):.1f} ms "
                "after their scheduled time (the bench's own lag, included in the latency)"
            )
    by_path = {r.path: r for r in results}
    ours, baseline = by_path.get("ours"), by_path.get("baseline")
    if ours is not None and baseline is not None and baseline.rate and ours.latencies and baseline.latencies:
        throughput = ours.rate / baseline.rate
        p50 = ours.latency_ms(50) / baseline.latency_ms(50)
        p99 = ours.latency_ms(99) / baseline.latency_ms(99)
        lines.append("")
        if rate is None:  # in the open loop both paths send at the scheduled rate: no throughput to compare
            lines.append(f"ours/baseline throughput: {throughput:.2f}x  (above 1: ours is faster)")
        lines.append(f"ours/baseline latency p50: {p50:.2f}x, p99: {p99:.2f}x  (below 1: ours is faster)")
    return "\n".join(lines)




@dataclass
class Takeover:
    """One kill -9 (or planned stop) of the serving member, and how the pair moved on.

    Times are seconds from the signal unless said otherwise. ``served_after``:
    to the other member's first /readyz 200 (None: never). ``first_delivery``:
    per chat that had one, to the first customer message its agent got on a
    socket to the new primary. ``epoch_moved``: the pair's epoch once the
    killed member was back, minus before the kill (1: one clean takeover;
    None: not read). ``back_after``: from the killed member's restart to its
    topology calling it backup (None: it did not come back). ``exited_after``:
    to the old process's exit (None: not within the timeout; it was killed).
    ``disconnects``: ``disconnected`` events clients got after the signal
    (a planned stop must cause none). ``own_copy``: for every message sent
    from 1 s before the signal until every chat had delivered through the new
    primary, its scheduled send to its own copy coming back to the sender.
    """

    number: int
    member: str
    signal: str
    served_after: float | None
    first_delivery: list[float]
    epoch_moved: int | None
    back_after: float | None
    exited_after: float | None = None
    disconnects: int = 0  # filled in at the end of the run, when every client's view is in
    own_copy: list[float] = field(default_factory=list)  # likewise

    def problems(self, chats: int, planned: bool) -> list[str]:
        """What makes this takeover fail the run, each in a few words."""
        found = []
        if self.served_after is None:
            found.append("the other member never served")
        if len(self.first_delivery) < chats:
            found.append(f"{chats - len(self.first_delivery)} chats never delivered through the new primary")
        if self.epoch_moved != 1:
            found.append(f"the epoch moved by {self.epoch_moved if self.epoch_moved is not None else 'unknown'}")
        if self.back_after is None:
            found.append(f"{self.member} did not come back as backup")
        if planned and self.exited_after is None:
            found.append(f"{self.member} did not exit")
        if planned and self.disconnects:
            found.append(f"{self.disconnects} disconnected events")
        return [f"{self.signal} {self.number}: {problem}" for problem in found]


@dataclass
class FailoverResult:
    """A failover run: one ``Takeover`` per kill (or planned stop), then what every client saw.

    ``latencies``: every delivered message, its scheduled send to its agent's
    receipt; ``steady``: the same for messages scheduled outside every
    hand-over (from 1 s before a signal until every chat had delivered through
    the new primary). ``counts``: lost, duplicated, gaps, conflicts, which must
    all be 0. ``epoch_moved``: over the whole run (one per kill when clean).
    ``cut_short``: why the kills stopped before ``kills`` (None: they did not).
    """

    chats: int
    messages: int
    interval: float
    planned: bool
    kills: int
    killed_after: float
    takeovers: list[Takeover]
    epoch_moved: int | None
    latencies: list[float]
    steady: list[float]
    sent: int
    held: int
    resent: int
    repeats: int
    reconnects: int
    gave_up: int
    errors: int
    counts: dict[str, int]
    completed: bool
    cut_short: str | None = None
    unavailable: int = 0  # `unavailable` answers (the store away; the frames went again): not errors
    redis_killed: bool = False  # --redis-sentinel: the kills were of the Redis master
    standby_resumes: int = 0  # reconnects made on a standby socket (no handshake)

    def problems(self) -> list[str]:
        """Everything that makes the run exit 1; empty when it held."""
        found = [problem for t in self.takeovers for problem in t.problems(self.chats, self.planned)]
        if self.cut_short is not None:
            found.append(f"stopped after {len(self.takeovers)} of {self.kills}: {self.cut_short}")
        if self.epoch_moved != len(self.takeovers):
            found.append(f"{self.epoch_moved} takeovers for {len(self.takeovers)} "
                         f"{'stops' if self.planned else 'kills'}")
        found += [f"{n} {name}" for name, n in self.counts.items() if n]
        if self.errors:
            found.append(f"{self.errors} error frames")
        if self.gave_up:
            found.append(f"{self.gave_up} clients gave up")
        if not self.completed:
            found.append("messages still missing when the run timed out")
        return found

    @property
    def clean(self) -> bool:
        return not self.problems()


def _seconds(value: float | None) -> str:
    return f"{value:.2f} s" if value is not None else "never"


def _spread_ms(values: list[float], *percents: float) -> str:
    return " / ".join(f"{percentile_ms(values, p):.0f}" for p in percents)


# The per-kill table: title, width, the cell of a takeover (negative width: left-aligned).
TAKEOVER_COLUMNS: list[tuple[str, int, Callable[[Takeover], str]]] = [
    ("#", 3, lambda t: str(t.number)),
    ("member", -26, lambda t: f"  {t.member}"),
    ("served after", 13, lambda t: _seconds(t.served_after)),
    ("first delivery p50/p99/max ms", 31, lambda t: _spread_ms(t.first_delivery, 50, 99, 100)),
    ("chats", 7, lambda t: str(len(t.first_delivery))),
    ("epoch moved by", 16, lambda t: str(t.epoch_moved) if t.epoch_moved is not None else "?"),
    ("back as backup", 16, lambda t: _seconds(t.back_after)),
]
# The planned stop's columns besides those.
STOP_COLUMNS: list[tuple[str, int, Callable[[Takeover], str]]] = [
    ("exited after", 14, lambda t: _seconds(t.exited_after)),
    ("disconnected", 14, lambda t: str(t.disconnects)),
    ("own copy p99/max ms", 21, lambda t: _spread_ms(t.own_copy, 99, 100)),
]


def _table(columns: list[tuple[str, int, Callable[[Takeover], str]]], rows: list[Takeover]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "".join(
            cell.ljust(-width) if width < 0 else cell.rjust(width)
            for cell, (_, width, _) in zip(cells, columns, strict=True)
        )

    return [line([title if width > 0 else f"  {title}" for title, width, _ in columns]),
            *(line([cell(row) for _, _, cell in columns]) for row in rows)]


def render_failover(result: FailoverResult) -> str:
    """A row per kill (or stop), the worst of them, then the message counts and the verdict."""
    r = result
    takeovers = r.takeovers
    what = "SIGTERM (planned stop)" if r.planned else "SIGKILL"
    kills = "stops" if r.planned else "kills"
    columns = TAKEOVER_COLUMNS + (STOP_COLUMNS if r.planned else [])
    when = (f"{r.killed_after:.1f} s into the exchange" if r.kills == 1 else
            f"the first {r.killed_after:.1f} s into the exchange, each next {r.killed_after:.1f} s after "
            "the previous takeover")
    lines = [
        f"{'planned stop' if r.planned else 'failover'}: {r.chats} chats, one message every "
        f"{r.interval * 1000:.0f} ms per customer (at least {r.messages} each); {r.kills} x {what} "
        f"to {'the Redis master' if r.redis_killed else 'the serving member'}, {when}",
        *_table(columns, takeovers),
        "",
    ]
    if takeovers:
        served = [t for t in takeovers if t.served_after is not None]
        slowest = max(served, key=lambda t: t.served_after or 0.0, default=None)
        worst = max(takeovers, key=lambda t: percentile_ms(t.first_delivery, 99) if t.first_delivery else math.inf)
        lines.append(
            f"worst served after {_seconds(slowest.served_after if slowest else None)}"
            f"{f' (#{slowest.number})' if slowest else ''}; worst first-delivery p99 "
            f"{percentile_ms(worst.first_delivery, 99):.0f} ms (#{worst.number}); "
            f"takeovers (the pair's epoch moved by) {r.epoch_moved if r.epoch_moved is not None else '?'} "
            f"for {len(takeovers)} {kills}"
        )
    if r.planned:
        own_copy = [wait for t in takeovers for wait in t.own_copy]
        lines += [
            f"disconnected events after a SIGTERM: {sum(t.disconnects for t in takeovers)} (must be 0)",
            f"messages sent during a hand-over (from 1 s before the SIGTERM): own copy back "
            f"p99 {percentile_ms(own_copy, 99):.0f} ms, max {percentile_ms(own_copy, 100):.0f} ms "
            f"({len(own_copy)} messages)",
        ]
    counts = "  ".join(f"{name} {n}" for name, n in r.counts.items())
    problems = r.problems()
    lines += [
        f"delivery latency (scheduled send -> agent receipt) p50/p99/max: {_spread_ms(r.latencies, 50, 99, 100)} ms "
        f"over {len(r.latencies)} messages; outside the hand-overs {_spread_ms(r.steady, 50, 99, 100)} ms "
        f"over {len(r.steady)}",
        f"messages {r.sent}: held while no server served {r.held}, re-sent after a reconnect {r.resent}, "
        f"answered twice {r.repeats}; reconnects {r.reconnects} ({r.standby_resumes} on a standby socket), "
        f"clients that gave up {r.gave_up}, "
        f"error frames {r.errors}, answered unavailable (the store away; sent again) {r.unavailable}",
        f"{counts}  (must all be 0)",
        "OK" if not problems else "FAILED: " + "; ".join(problems),
    ]
    return "\n".join(lines)
