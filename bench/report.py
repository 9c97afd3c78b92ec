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
