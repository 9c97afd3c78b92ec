"""What a run measured, and the table that compares the paths."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Result:
    """One path's exchange: counts (``dropped``: sockets the server closed), the time
    from first send to last delivery, latencies in seconds, and how long opening
    the chats took (not part of the exchange)."""

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

    @property
    def lost(self) -> int:
        return self.expected - self.delivered

    @property
    def rate(self) -> float:
        """Messages delivered per second."""
        return self.delivered / self.seconds if self.seconds > 0 else 0.0

    def latency_ms(self, percent: float) -> float:
        """The nearest-rank percentile of the delivery latency, in ms."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        rank = max(math.ceil(percent / 100 * len(ordered)), 1)
        return ordered[rank - 1] * 1000


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


def render(results: list[Result], messages: int, window: int) -> str:
    """A table of every path, then ours/baseline when both ran."""
    lines = [
        f"{results[0].chats} chats x {messages} messages, window {window}; latency = customer send -> agent receipt",
        _row([title for title, _, _ in COLUMNS]),
        *(_row([cell(r) for _, _, cell in COLUMNS]) for r in results),
    ]
    by_path = {r.path: r for r in results}
    ours, baseline = by_path.get("ours"), by_path.get("baseline")
    if ours is not None and baseline is not None and baseline.rate and ours.latencies and baseline.latencies:
        throughput = ours.rate / baseline.rate
        p50 = ours.latency_ms(50) / baseline.latency_ms(50)
        p99 = ours.latency_ms(99) / baseline.latency_ms(99)
        lines += [
            "",
            f"ours/baseline throughput: {throughput:.2f}x  (above 1: ours is faster)",
            f"ours/baseline latency p50: {p50:.2f}x, p99: {p99:.2f}x  (below 1: ours is faster)",
        ]
    return "\n".join(lines)


@dataclass
class FailoverResult:
    """A failover run: what it took for the chats to move on, and what each client saw.

    ``first_delivery``: per chat that had one, seconds from the kill to the first
    customer message its agent got through the backup. ``served_after``:
    seconds from the kill to the backup's first /readyz 200 (None: never).
    ``counts``: lost, duplicated, gaps, conflicts, which must all be 0.
    """

    chats: int
    messages: int
    interval: float
    killed_after: float
    served_after: float | None
    first_delivery: list[float]
    sent: int
    held: int
    resent: int
    repeats: int
    reconnects: int
    gave_up: int
    errors: int
    counts: dict[str, int]
    completed: bool
    takeovers: int  # epochs the pair moved by: 1 for one clean takeover

    @property
    def clean(self) -> bool:
        return (self.completed and self.served_after is not None and not any(self.counts.values())
                and self.errors == self.gave_up == 0 and len(self.first_delivery) == self.chats)


def _percentile_ms(values: list[float], percent: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(math.ceil(percent / 100 * len(ordered)), 1) - 1] * 1000


def render_failover(result: FailoverResult) -> str:
    """The failover figures, then the counts that must be 0, then the verdict."""
    r = result
    served = f"{r.served_after:.2f} s" if r.served_after is not None else "never"
    delivery = r.first_delivery
    counts = "  ".join(f"{name} {n}" for name, n in r.counts.items())
    return "\n".join([
        f"failover: {r.chats} chats x {r.messages} messages, one every {r.interval * 1000:.0f} ms per customer; "
        f"primary killed (SIGKILL) {r.killed_after:.1f} s into the exchange",
        f"backup served (/readyz 200)         {served} after the kill; the pair's epoch moved by "
        f"{r.takeovers}" + ("" if r.takeovers == 1 else " (one kill, more than one takeover: see the logs)"),
        f"first delivery through the backup   p50 {_percentile_ms(delivery, 50):.0f} ms  "
        f"p99 {_percentile_ms(delivery, 99):.0f} ms  max {_percentile_ms(delivery, 100):.0f} ms  "
        f"({len(delivery)} of {r.chats} chats)",
        f"messages {r.sent}: held while no server served {r.held}, re-sent after a reconnect {r.resent}, "
        f"answered twice {r.repeats}; reconnects {r.reconnects}, clients that gave up {r.gave_up}, "
        f"error frames {r.errors}",
        f"{counts}  (must all be 0)",
        "OK" if r.clean else "FAILED" + ("" if r.completed else ": the run timed out"),
    ])
