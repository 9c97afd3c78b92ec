"""Supervisors and visibility in the session machine and the customer's view,
without Redis: who may coach and barge in, what a customer is shown."""
import pytest

from chat import inbound
from chat.frames import Visibility
from chat.session import ChatError, ChatSession, Participant
from chat.visibility import for_customer

ALICE = Participant.agent(1, "Alice")
SUE = Participant.supervisor(3, "Sue")


def stored(session: ChatSession, event: dict, hidden: list[int]) -> dict:
    """What the live log does: number the event, and give an event shown to the
    customer its customer_seq once internal events came before it."""
    event = {**event, "seq": session.last_seq + 1}
    if event.get("visibility") == "internal":
        hidden.append(event["seq"])
    elif hidden:
        event["customer_seq"] = event["seq"] - len(hidden)
    session.apply(event)
    return event


@pytest.fixture
def chat() -> tuple[ChatSession, list[int]]:
    session, _ = ChatSession.open("s1", "pair", "Carol", "billing")
    hidden: list[int] = []
    stored(session, session.joined(session.customer), hidden)
    stored(session, session.joined(ALICE, 0), hidden)
    return session, hidden


def test_a_coach_message_is_internal_and_does_not_make_the_supervisor_a_participant(chat):
    session, hidden = chat
    event = stored(session, session.staff_message(SUE, "offer the refund", "c1", 100, Visibility.INTERNAL), hidden)
    assert event["visibility"] == "internal" and event["role"] == "supervisor"
    assert next(iter(event)) == "visibility"  # the live log's script reads it from the first bytes
    assert session.participant(SUE.id) is None and SUE.id not in session.connected


def test_a_supervisor_writes_to_everyone_only_after_barging_in(chat):
    session, hidden = chat
    with pytest.raises(ChatError) as refused:
        session.staff_message(SUE, "hello all", "c1", 100, Visibility.ALL)
    assert refused.value.code == "not-joined"
    stored(session, session.barge_in(SUE), hidden)
    assert session.participant(SUE.id) == SUE
    event = session.staff_message(SUE, "hello all", "c2", 100, Visibility.ALL)
    assert "visibility" not in event
    with pytest.raises(ChatError):
        session.barge_in(SUE)


def test_a_supervisor_who_leaves_is_no_participant_and_the_agent_keeps_the_chat(chat):
    session, hidden = chat
    stored(session, session.barge_in(SUE), hidden)
    for event in session.leave(SUE):
        stored(session, event, hidden)
    assert session.participant(SUE.id) is None
    assert session.agent == ALICE and session.is_open


def test_a_customer_never_writes_internal(chat):
    session, _ = chat
    with pytest.raises(ChatError):
        session.staff_message(session.customer, "psst", "c1", 100, Visibility.INTERNAL)
    with pytest.raises(ChatError) as refused:
        inbound.customer_frame({"type": "message", "text": "x", "client_id": "c", "visibility": "internal"})
    assert refused.value.code == "bad-frame"


def test_the_customer_is_shown_a_gapless_count_and_no_internal_event(chat):
    session, hidden = chat
    events = [stored(session, session.staff_message(SUE, "psst", "c1", 100, Visibility.INTERNAL), hidden),
              stored(session, session.message(ALICE, "hi Carol", "c2", 100), hidden),
              stored(session, session.staff_message(ALICE, "ok boss", "c3", 100, Visibility.INTERNAL), hidden),
              stored(session, session.message(session.customer, "hi", "c4", 100), hidden)]
    shown = [frame for frame in map(for_customer, events) if frame is not None]
    assert [(f["text"], f["seq"]) for f in shown] == [("hi Carol", 3), ("hi", 4)]
    assert all("customer_seq" not in f for f in shown)
    assert session.customer_last_seq == 4 and session.last_seq == 6


def test_internal_messages_are_not_activity(chat):
    session, hidden = chat
    before = session.active_at
    stored(session, session.staff_message(SUE, "psst", "c1", 100, Visibility.INTERNAL), hidden)
    assert session.active_at == before


@pytest.mark.parametrize("frame, code", [
    ({"type": "monitor"}, "missing-field"),
    ({"type": "monitor", "session_id": 7}, "bad-frame"),
    ({"type": "monitor", "session_id": "s", "last_seq": -1}, "out-of-range"),
    ({"type": "barge-in", "session_id": "s" * 65}, "too-long"),
    ({"type": "message", "session_id": "s", "text": "x", "visibility": "secret"}, "bad-frame"),
    ({"type": "message", "session_id": "s", "text": "x", "visibility": ["internal"]}, "bad-frame"),
    ({"type": "message", "session_id": "s", "text": "a\x00b"}, "bad-text"),
    ({"type": "message", "session_id": "s", "text": "\ud800"}, "bad-text"),
    ({"type": "start", "nickname": "Sue"}, "unknown-type"),
    ({"type": "ready"}, "unknown-type"),
])
def test_hostile_supervisor_frames_are_refused_with_a_named_error(frame, code):
    with pytest.raises(ChatError) as refused:
        inbound.supervisor_frame(frame)
    assert refused.value.code == code


def test_a_supervisor_message_is_coaching_unless_it_says_otherwise():
    frame = inbound.supervisor_frame({"type": "message", "session_id": "s", "text": "x"})
    assert frame.visibility is Visibility.INTERNAL


def test_a_save_that_covered_only_coaching_is_not_told_to_the_customer(chat):
    session, hidden = chat
    first = stored(session, session.save_notice(2), hidden)
    assert first["saved_seq"] == 2 and "visibility" not in first  # no internal event yet: as before
    coaching = stored(session, session.staff_message(SUE, "psst", "c1", 100, Visibility.INTERNAL), hidden)
    internal = stored(session, session.save_notice(coaching["seq"]), hidden)
    assert internal["visibility"] == "internal" and for_customer(internal) is None
    said = stored(session, session.message(ALICE, "hi Carol", "c2", 100), hidden)
    told = stored(session, session.save_notice(said["seq"]), hidden)
    assert "visibility" not in told and told["saved_seq"] == said["seq"]
    shown = for_customer(told)
    # In Carol's count: joined, joined, save notice, "hi Carol" is her fourth event.
    assert shown["saved_seq"] == for_customer(said)["seq"] == 4
    assert "customer_saved_seq" not in shown and shown["seq"] == 5


def test_a_session_rebuilt_from_its_log_counts_as_the_customer_does():
    session, _ = ChatSession.open("s1", "pair", "Carol", "billing")
    hidden: list[int] = []
    log = [stored(session, session.joined(session.customer), hidden),
           stored(session, session.joined(ALICE, 0), hidden),
           stored(session, session.staff_message(SUE, "psst", "c1", 100, Visibility.INTERNAL), hidden),
           stored(session, session.message(ALICE, "hi", "c2", 100), hidden)]
    log.append(stored(session, session.save_notice(4), hidden))
    rebuilt, _ = ChatSession.open("s1", "pair", "Carol", "billing")
    for event in log:
        rebuilt.apply(event)
    assert rebuilt.internal_seqs == [3] and rebuilt.customer_count(rebuilt.last_seq) == rebuilt.customer_last_seq == 4
    assert rebuilt.shown_unsaved == session.shown_unsaved == []  # only the save notice itself came since
    assert rebuilt.save_notice(5)["visibility"] == "internal"
