"""How long a waiting customer may expect to wait (issue 13): the recent rate at
which chats are answered, and a place in the queue divided by it. Plain data and
arithmetic, no I/O: chat.messages tells ``AnswerRate`` of every agent's ``joined``
(a chat answered), chat.queue and chat.messages put the estimate into the
customer's ``queued`` notices, ``new_chat_wait_s`` answers for a chat not yet
started (``GET /api/chat/availability``'s ``expected_wait_s``, through the
serving member's summary: chat.availability).

The rate is the answers of the last WINDOW_S seconds over the time they were
counted in, that time never taken shorter than MIN_SPAN_S, so that a burst (an
agent who logs in and takes three chats at once) does not promise the next
customers an answer within a second. The estimate for place p is p / rate,
rounded up (STEPS_S) and capped at MAX_ESTIMATE_S; with no answer in the window
there is no basis, and no estimate (None).

The answers are counted by the member that serves, in memory, from when it began
to serve: after a takeover or a switchover the count starts empty, and the
estimates come back with the new primary's first answer. (The live log could
give the answers of the chats still open, but not of those that closed
meanwhile: a rebuilt rate would be biased, an empty one only late.)
"""
from __future__ import annotations

import math
from collections import deque

# Answers older than this do not count: the rate follows the last ten minutes.
WINDOW_S = 600.0
# Answers are never spread over less than a minute: one answer seen in the first
# second after a start reads as one a minute, not one a second.
MIN_SPAN_S = 60.0
# At most this many answer times are kept; past it the window is the span they
# cover (a busy center has its ten minutes' worth in far fewer seconds).
MAX_ANSWERS = 1000
# Estimates are rounded up to whole steps, coarser as they grow (up to ten
# minutes: 30 s; up to an hour: 5 min; beyond: 15 min): the page shows minutes,
# a long wait is no more precise than that, and a customer deep in the queue is
# not re-told a wait that moved by a few seconds (as time passes without an
# answer, its estimate grows every second).
STEP_S = 30
STEPS_S = ((600, STEP_S), (3600, 300), (math.inf, 900))  # (up to, step)
# Longer estimates say this much: beyond two hours the figure means "long".
MAX_ESTIMATE_S = 2 * 3600


class AnswerRate:
    """The times (``time.monotonic()``) at which chats were answered lately."""

    def __init__(self, now: float) -> None:
        self._since = now  # when counting began: the rate is over no more than this
        self._times: deque[float] = deque(maxlen=MAX_ANSWERS)

    def __len__(self) -> int:
        return len(self._times)

    def restart(self, now: float) -> None:
        """Forget every answer (this member begins to serve, or stops)."""
        self._since = now
        self._times.clear()

    def answered(self, now: float) -> None:
        """A chat waiting for an agent was given one."""
        self._times.append(now)

    def per_second(self, now: float) -> float | None:
        """Answers a second lately; None when none came within WINDOW_S."""
        while self._times and self._times[0] < now - WINDOW_S:
            self._times.popleft()
        if not self._times:
            return None
        if len(self._times) == MAX_ANSWERS:
            start = self._times[0]
        else:
            start = max(now - WINDOW_S, self._since)
        return len(self._times) / max(now - start, MIN_SPAN_S)


def estimated_wait_s(rate: float | None, position: int) -> int | None:
    """Seconds until place ``position`` (1: next in line) is answered at ``rate``
    answers a second, rounded up to its step (STEPS_S), from STEP_S to
    MAX_ESTIMATE_S; None with no rate."""
    if rate is None or rate <= 0 or position < 1:
        return None
    seconds = position / rate
    step = next(step for up_to, step in STEPS_S if seconds <= up_to)
    return min(max(math.ceil(seconds / step), 1) * step, MAX_ESTIMATE_S)


def new_chat_wait_s(rate: float | None, waiting: int, agent_has_room: bool) -> int | None:
    """The estimate for a chat started now: 0 when nobody waits and an available
    agent has room (it is answered at once); else that of the place behind the
    ``waiting`` chats; None with no basis."""
    if waiting == 0 and agent_has_room:
        return 0
    return estimated_wait_s(rate, waiting + 1)
