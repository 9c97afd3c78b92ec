"""inactivity-control's rules in the session state machine, without I/O: when the
alert and the close come due, what restarts the timer, what a rebuild keeps."""
from datetime import UTC, datetime

import pytest

from chat.deadlines import deadline_of, inactivity_of
from chat.frames import Notice
from chat.session import ChatSession, Inactivity, Participant, Status
from ha.options import Settings

T = 1_700_000_000.0  # the chat's start, unix time
ALICE = Participant.agent(1, "Alice")
RULES = Inactivity(alert_s=60, close_s=100)


def stored(session: ChatSession, event: dict, at: float) -> dict:
    """What the live log does (number the event), at a chosen time; then the fold."""
    event = {**event, "seq": session.last_seq + 1,
             "at": datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")}
    session.apply(event)
    return event


@pytest.fixture
def queued() -> ChatSession:
    session, _ = ChatSession.open("s1", "pair", "Carol", "")
    stored(session, session.joined(session.customer), T)
    stored(session, session.queued(1), T)
    return session


@pytest.fixture
def active(queued: ChatSession) -> ChatSession:
    """Alice joined at T + 10: the timer starts there."""
    stored(queued, queued.joined(ALICE), T + 10)
    assert queued.status is Status.ACTIVE
    return queued


def test_an_active_chat_is_alerted_then_closed_counting_from_the_last_activity(active):
    assert active.next_deadline(0, 60, 10, RULES) == T + 70
    assert active.inactivity_due(T + 69, RULES) is None
    assert active.inactivity_due(T + 70, RULES) is Notice.INACTIVITY_ALERT
    stored(active, active.inactivity_alert("still there?"), T + 70)
    # Alerted once: next comes the close, at the same quiet spell's end.
    assert active.inactivity_due(T + 80, RULES) is None
    assert active.next_deadline(0, 60, 10, RULES) == T + 110
    assert active.inactivity_due(T + 110, RULES) is Notice.INACTIVITY_CLOSE
    notice, closed = active.inactivity_close("bye")
    assert (notice["notice"], notice["text"]) == ("inactivity-close", "bye")
    assert (closed["type"], closed["reason"]) == ("closed", "inactivity")


def test_a_message_join_or_leave_restarts_the_timer_and_allows_a_new_alert(active):
    stored(active, active.inactivity_alert("still there?"), T + 70)
    stored(active, active.message(active.customer, "yes", "c1", 100), T + 90)
    assert active.inactivity_due(T + 110, RULES) is None  # not the old close
    assert active.next_deadline(0, 60, 10, RULES) == T + 150  # a new alert
    assert active.inactivity_due(T + 150, RULES) is Notice.INACTIVITY_ALERT


def test_a_chat_waiting_in_the_queue_is_never_inactive(queued):
    assert queued.inactivity_due(T + 10_000, RULES) is None
    assert queued.next_deadline(0, 60, 10, RULES) is None


def test_a_chat_whose_agent_left_waits_again_and_is_not_touched(active):
    for event in active.leave(ALICE):
        stored(active, event, T + 20)
    assert active.status is Status.QUEUED
    assert active.inactivity_due(T + 10_000, RULES) is None


def test_notices_restart_the_timer_only_when_told(active):
    stored(active, {**active.queued(1), "notice": "ucs-save"}, T + 50)
    assert active.inactivity_due(T + 70, RULES) is Notice.INACTIVITY_ALERT
    with_notices = Inactivity(60, 100, include_notices=True)
    assert active.inactivity_due(T + 70, with_notices) is None
    assert active.inactivity_due(T + 110, with_notices) is Notice.INACTIVITY_ALERT


def test_an_alert_is_never_activity_even_with_notices_counted(active):
    with_notices = Inactivity(60, 100, include_notices=True)
    stored(active, active.inactivity_alert("still there?"), T + 70)
    assert active.inactivity_due(T + 110, with_notices) is Notice.INACTIVITY_CLOSE


def test_when_both_are_due_the_alert_goes_first(active):
    """A late sweep (or a takeover after both moments) still warns before it closes."""
    assert active.inactivity_due(T + 500, RULES) is Notice.INACTIVITY_ALERT
    stored(active, active.inactivity_alert("still there?"), T + 500)
    assert active.inactivity_due(T + 501, RULES) is Notice.INACTIVITY_CLOSE


def test_zero_or_an_alert_not_before_the_close_turns_a_step_off(active):
    assert active.inactivity_due(T + 500, Inactivity(60, 0)) is Notice.INACTIVITY_ALERT
    assert active.inactivity_due(T + 110, Inactivity(100, 100)) is Notice.INACTIVITY_CLOSE
    assert active.inactivity_due(T + 109, Inactivity(100, 100)) is None
    assert active.inactivity_due(T + 10_000, Inactivity(0, 0)) is None
    assert active.inactivity_due(T + 10_000, None) is None


def test_a_rebuilt_session_knows_the_alert_was_sent():
    """After a failover the new primary does not send the same alert again."""
    session, _ = ChatSession.open("s1", "pair", "Carol", "")
    log = [
        stored(session, session.joined(session.customer), T),
        stored(session, session.queued(1), T),
        stored(session, session.joined(ALICE), T + 10),
        stored(session, session.inactivity_alert("still there?"), T + 70),
        stored(session, session.disconnected(session.customer), T + 75),
    ]
    again = ChatSession.rebuild("s1", session.facts(), log)
    assert again.alerted_at == T + 70
    assert again.inactivity_due(T + 80, RULES) is None
    assert again.inactivity_due(T + 110, RULES) is Notice.INACTIVITY_CLOSE


def test_the_options_make_the_rules_and_the_default_is_off(active):
    assert inactivity_of(Settings()) is None
    assert deadline_of(active, Settings()) == active.next_deadline(0, 60, 10.0)
    settings = Settings({"inactivity-control-enabled": "true", "inactivity-timeout-alert": "1",
                         "inactivity-timeout-close": "2", "inactivity-include-notices": "true"})
    assert inactivity_of(settings) == Inactivity(1, 2, include_notices=True)
    assert deadline_of(active, settings) == T + 11
