"""The due-save record's rules, with no I/O: when the sweeper steps in, how it
backs off, when an owed transcript counts as stuck (issue 10).

The record itself lives in Redis beside the live log (chat.livelog): the append
of an event that calls for a save marks the save as owed up to that event's seq,
and only a worker that stored that seq takes the mark away. The serving primary's
sweeper (transcripts.sweeper) hands every save that stayed owed for too long to
the broker again, backing off while the store stays away, for as long as it takes.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chat.livelog import OwedSave

# How long past its own retries (transcript-resend-attempts x -delay) a save may
# take before the sweeper hands it again: a save takes milliseconds, a Celery
# hand-off and pick-up a few more, so this is only reached when the save was lost
# (a primary killed before the hand-off, a broker error, a worker killed mid-save)
# or the store is away.
SWEEP_MARGIN_S = 5.0
# The sweeper's wait between two hand-offs of the same owed save grows with how
# long it has been owed (half of that), between these bounds: a store back after a
# long outage completes every transcript within MAX_RESEND_S, and a broker with no
# worker gets one message per owed save per MAX_RESEND_S at most.
MIN_RESEND_S = 1.0
MAX_RESEND_S = 60.0
# An owed save older than this is reported (a warning at each hand-off, the
# count in ha_status): its live log is kept until it is saved, never dropped.
STUCK_AFTER_S = 10 * 60


def sweep_after(attempts: int, delay: float) -> float:
    """Seconds from an event that owes a save to the sweeper's first hand-off of it."""
    return attempts * delay + SWEEP_MARGIN_S


def resend_wait(owed_for: float) -> float:
    """Seconds until the sweeper hands a save again, once it has been owed ``owed_for`` s."""
    return min(MAX_RESEND_S, max(MIN_RESEND_S, owed_for / 2))


def stuck(owed_for: float) -> bool:
    """Whether a save owed for ``owed_for`` s is to be reported to an operator."""
    return owed_for >= STUCK_AFTER_S


@dataclass(frozen=True)
class Resend:
    """One hand-off the sweeper makes: the save of ``session_id`` (owed up to
    ``upto`` for ``owed_for`` s), then the next in ``wait`` s unless it is stored."""

    session_id: str
    upto: int
    owed_for: float
    wait: float

    @property
    def stuck(self) -> bool:
        return stuck(self.owed_for)


def plan(now: float, owed: Iterable[OwedSave]) -> list[Resend]:
    """What the sweeper does at ``now`` (Redis's clock) with the owed saves that came due."""
    resends = []
    for save in owed:
        owed_for = max(0.0, now - save.since)
        resends.append(Resend(save.session_id, save.upto, owed_for, resend_wait(owed_for)))
    return resends
