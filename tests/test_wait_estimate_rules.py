"""The wait estimate's arithmetic (chat.wait_estimate), without Redis: the answer
rate over a sliding window, the estimate of a place, its rounding and cap, and
the estimate for a chat not yet started."""
import pytest

from chat.wait_estimate import (
    MAX_ANSWERS,
    MAX_ESTIMATE_S,
    MIN_SPAN_S,
    STEP_S,
    WINDOW_S,
    AnswerRate,
    estimated_wait_s,
    new_chat_wait_s,
)
from chat.waiting import POSITION_NOTICE_INTERVAL_S, PositionNotices, WaitingLine


def test_with_no_answer_yet_there_is_no_rate_and_no_estimate():
    rate = AnswerRate(now=0.0)
    assert rate.per_second(1000.0) is None
    assert estimated_wait_s(rate.per_second(1000.0), 3) is None


def test_the_rate_is_the_answers_of_the_window_over_the_time_they_were_counted_in():
    rate = AnswerRate(now=0.0)
    for at in (100.0, 200.0, 300.0):
        rate.answered(at)
    assert rate.per_second(300.0) == pytest.approx(3 / 300.0)  # counted since 0
    # Past the window, it is the last WINDOW_S seconds; the first answer has gone out of it.
    assert rate.per_second(WINDOW_S + 150.0) == pytest.approx(2 / WINDOW_S)
    assert rate.per_second(300.0 + WINDOW_S + 1) is None  # nobody answered for WINDOW_S: no basis


def test_a_burst_at_the_start_is_spread_over_a_minute_at_least():
    """An agent who logs in and takes three chats at once does not promise the
    next customer an answer within a second."""
    rate = AnswerRate(now=0.0)
    for _ in range(3):
        rate.answered(0.5)
    assert rate.per_second(1.0) == pytest.approx(3 / MIN_SPAN_S)
    assert estimated_wait_s(rate.per_second(1.0), 1) == 30  # 20 s, rounded up to the step
    assert estimated_wait_s(rate.per_second(1.0), 6) == 120


def test_restart_forgets_the_answers_of_the_last_term():
    rate = AnswerRate(now=0.0)
    rate.answered(10.0)
    rate.restart(now=20.0)
    assert rate.per_second(21.0) is None
    rate.answered(30.0)
    assert rate.per_second(200.0) == pytest.approx(1 / 180.0)  # counted since the restart, not since 0


def test_at_most_max_answers_are_kept_and_then_the_window_is_the_span_they_cover():
    rate = AnswerRate(now=0.0)
    for n in range(MAX_ANSWERS + 10):
        rate.answered(100.0 + n * 0.1)
    assert len(rate) == MAX_ANSWERS
    now = 100.0 + (MAX_ANSWERS + 9) * 0.1
    oldest = 100.0 + 10 * 0.1
    assert rate.per_second(now) == pytest.approx(MAX_ANSWERS / max(now - oldest, MIN_SPAN_S))


@pytest.mark.parametrize(("rate", "position", "expected"), [
    (1 / 60, 1, 60),  # one a minute, next in line: a minute
    (1 / 60, 4, 240),
    (1 / 45, 1, 60),  # 45 s: rounded up to the step
    (1.0, 1, STEP_S),  # never less than one step
    (1 / 60, 11, 900),  # 11 min: past ten minutes, to 5 minutes
    (1 / 60, 61, 4500),  # 61 min: past an hour, to 15 minutes
    (1 / 600, 100, MAX_ESTIMATE_S),  # capped
    (1 / 60, 0, None),  # not a place
    (0.0, 1, None),
    (None, 1, None),
])
def test_the_estimate_of_a_place_is_the_place_over_the_rate_rounded_up_and_capped(rate, position, expected):
    assert estimated_wait_s(rate, position) == expected


def test_every_estimate_is_a_whole_step():
    for position in range(1, 200):
        estimate = estimated_wait_s(1 / 37, position)
        assert estimate % STEP_S == 0 and STEP_S <= estimate <= MAX_ESTIMATE_S


def test_a_new_chat_is_answered_at_once_when_nobody_waits_and_an_agent_has_room():
    assert new_chat_wait_s(None, waiting=0, agent_has_room=True) == 0
    assert new_chat_wait_s(1 / 60, waiting=0, agent_has_room=True) == 0


def test_a_new_chat_waits_behind_the_queue():
    assert new_chat_wait_s(1 / 60, waiting=2, agent_has_room=False) == 180  # the third place
    assert new_chat_wait_s(1 / 60, waiting=0, agent_has_room=False) == 60
    assert new_chat_wait_s(None, waiting=2, agent_has_room=False) is None  # no basis


def test_a_waiting_customer_is_told_again_when_only_the_estimate_moved():
    line, notices = WaitingLine(), PositionNotices()
    line.join("carol")
    notices.told("carol", 1, 0.0, 120)
    assert notices.due(line, 5.0, lambda position: 120) == ([], False)
    assert notices.due(line, 0.5, lambda position: 60) == ([], True)  # moved, told half a second ago
    assert notices.due(line, POSITION_NOTICE_INTERVAL_S, lambda position: 60) == ([("carol", 1)], False)
