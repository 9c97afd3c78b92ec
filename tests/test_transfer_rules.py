"""A transfer's rules without I/O: what the session command checks and returns,
what the fold and a rebuild keep, which agents may take a chat, and what the
edge makes of a transfer frame."""
import json

import pytest

from chat import inbound
from chat.frames import ErrorCode
from chat.registry import AgentPresence
from chat.session import ChatError, ChatSession, Participant, Status
from chat.transfers import MAX_LISTED_AGENTS, check_target, targets

ALICE = Participant.agent(1, "Alice")
BOB = Participant.agent(2, "Bob")
DAVE = Participant.agent(4, "Dave")


def stored(session: ChatSession, event: dict) -> dict:
    """What the live log does: number the event; then the fold."""
    event = {**event, "seq": session.last_seq + 1}
    session.apply(event)
    return event


@pytest.fixture
def log() -> list[dict]:
    return []


@pytest.fixture
def session(log) -> ChatSession:
    """Carol chatting with alice."""
    session, _ = ChatSession.open("s1", "pair", "Carol", "refund")
    log.append(stored(session, session.joined(session.customer)))
    log.append(stored(session, session.queued(1)))
    log.append(stored(session, session.joined(ALICE)))
    return session


def present(agent: Participant, available: bool = True, sockets: int = 1) -> AgentPresence:
    return AgentPresence(agent, sockets={object() for _ in range(sockets)}, available=available)


def test_a_transfer_is_one_event_that_makes_the_target_the_agent(session, log):
    [event] = session.transfer(ALICE, BOB)
    assert event["type"] == "transferred"
    assert (event["from"], event["role"], event["nickname"]) == (ALICE.id, "agent", "Alice")
    assert event["to"] == {"id": BOB.id, "role": "agent", "nickname": "Bob"}
    log.append(stored(session, event))
    assert session.agent == BOB
    assert session.status is Status.ACTIVE
    assert session.connected == {session.customer.id, BOB.id}
    assert session.participant(ALICE.id) is None


def test_a_note_comes_first_and_is_internal(session):
    note, transferred = session.transfer(ALICE, BOB, "wants a refund\norder 42")
    assert (note["type"], note["notice"], note["text"]) == ("notice", "transfer-note", "wants a refund\norder 42")
    assert note["visibility"] == "internal"
    assert next(iter(note)) == "visibility"  # the first key: how the live log tells an internal event
    assert note["from"] == ALICE.id
    assert transferred["type"] == "transferred"


def test_a_rebuilt_session_has_the_new_agent(session, log):
    for event in session.transfer(ALICE, BOB, "note"):
        log.append(stored(session, event))
    rebuilt = ChatSession.rebuild("s1", session.facts(), log)
    assert rebuilt.agent == BOB
    assert rebuilt.status is Status.ACTIVE
    assert rebuilt.last_seq == len(log) == 5


def test_a_chat_that_is_not_yours_or_closed_is_not_transferred(session, log):
    with pytest.raises(ChatError) as refused:
        session.transfer(BOB, DAVE)
    assert refused.value.code == ErrorCode.NOT_YOURS
    with pytest.raises(ChatError) as refused:
        session.transfer(session.customer, BOB)
    assert refused.value.code == ErrorCode.NOT_YOURS
    with pytest.raises(ChatError) as refused:
        session.transfer(ALICE, ALICE)
    assert refused.value.code == ErrorCode.AGENT_UNAVAILABLE
    log.append(stored(session, session.close(ALICE)))
    with pytest.raises(ChatError) as refused:
        session.transfer(ALICE, BOB)
    assert refused.value.code == ErrorCode.SESSION_CLOSED


def test_the_old_agent_cannot_transfer_it_again(session):
    stored(session, session.transfer(ALICE, BOB)[-1])
    with pytest.raises(ChatError) as refused:
        session.transfer(ALICE, DAVE)
    assert refused.value.code == ErrorCode.NOT_YOURS


def test_leaving_with_a_note_puts_the_note_before_left_and_the_chat_waits(session):
    note, left = session.leave(ALICE, "call back after 5")
    assert (note["notice"], note["visibility"], left["type"]) == ("transfer-note", "internal", "left")
    stored(session, note)
    stored(session, left)
    assert session.status is Status.QUEUED and session.agent is None
    assert [e["type"] for e in session.leave(session.customer, "ignored")] == ["left", "closed"]


@pytest.mark.parametrize(("presence", "open_chats", "why"), [
    (None, 0, "not logged in"),
    (present(BOB, sockets=0), 0, "not logged in"),
    (present(BOB, available=False), 0, "Bob is not available"),
    (present(BOB), 3, "Bob has 3 chats, as many as agent-capacity (3)"),
])
def test_a_target_who_cannot_take_a_chat_is_refused_saying_why(presence, open_chats, why):
    with pytest.raises(ChatError) as refused:
        check_target(ALICE, BOB.id, presence, open_chats, capacity=3)
    assert refused.value.code == ErrorCode.AGENT_UNAVAILABLE
    assert why in refused.value.message


def test_a_target_logged_in_available_and_with_room_is_taken():
    assert check_target(ALICE, BOB.id, present(BOB), 2, capacity=3) == BOB
    with pytest.raises(ChatError):
        check_target(ALICE, ALICE.id, present(ALICE), 0, capacity=3)


def test_the_list_has_only_agents_who_could_take_a_chat_least_loaded_first():
    carl, erin = Participant.agent(5, "Carl"), Participant.agent(6, "Erin")
    presences = [present(ALICE), present(BOB), present(DAVE, available=False), present(carl), present(erin)]
    loads = {BOB.id: 2, carl.id: 0, erin.id: 3}
    frame = targets(ALICE, presences, lambda agent_id: loads.get(agent_id, 0), capacity=3)
    assert frame["type"] == "agents" and frame["capacity"] == 3
    assert frame["agents"] == [{"id": carl.id, "nickname": "Carl", "chats": 0},
                               {"id": BOB.id, "nickname": "Bob", "chats": 2}]


def test_the_list_is_bounded():
    many = [present(Participant.agent(n, f"Agent {n:04}")) for n in range(10, 10 + MAX_LISTED_AGENTS + 20)]
    assert len(targets(ALICE, many, lambda agent_id: 0, capacity=3)["agents"]) == MAX_LISTED_AGENTS


@pytest.mark.parametrize(("frame", "code"), [
    ({"type": "transfer", "to": BOB.id}, "missing-field"),
    ({"type": "transfer", "session_id": "s1"}, "missing-field"),
    ({"type": "transfer", "session_id": "s1", "to": 42}, "bad-frame"),
    ({"type": "transfer", "session_id": "s1", "to": ["a"]}, "bad-frame"),
    ({"type": "transfer", "session_id": "s1", "to": {"id": "x"}}, "bad-frame"),
    ({"type": "transfer", "session_id": 7, "to": BOB.id}, "bad-frame"),
    ({"type": "transfer", "session_id": "s1", "to": "a" * 65}, "too-long"),
    ({"type": "transfer", "session_id": "s1", "to": "agent-\u0000"}, "bad-text"),
    ({"type": "transfer", "session_id": "s1", "to": "agent-\u2028"}, "bad-text"),
    ({"type": "transfer", "session_id": "s1", "to": "\udfff"}, "bad-text"),
    ({"type": "transfer", "session_id": "s1", "to": BOB.id, "note": 5}, "bad-frame"),
    ({"type": "transfer", "session_id": "s1", "to": BOB.id, "note": "n" * 1001}, "too-long"),
    ({"type": "transfer", "session_id": "s1", "to": BOB.id, "note": "bell\u0007"}, "bad-text"),
    ({"type": "transfer", "session_id": "s1", "to": BOB.id, "note": "\ud800"}, "bad-text"),
    ({"type": "leave", "session_id": "s1", "note": True}, "bad-frame"),
    ({"type": "leave", "session_id": "s1", "note": "x" * 5000}, "too-long"),
])
def test_the_edge_refuses_a_bad_transfer_frame(frame, code):
    with pytest.raises(ChatError) as refused:
        inbound.agent_frame(inbound.decode(json.dumps(frame)))
    assert refused.value.code == code


def test_the_edge_keeps_a_good_transfer_frame():
    frame = inbound.agent_frame(inbound.decode(json.dumps(
        {"type": "transfer", "session_id": "s1", "to": BOB.id, "note": " two\nlines\t\u00e9\U0001f600 "})))
    assert frame == inbound.Transfer("s1", BOB.id, "two\nlines\t\u00e9\U0001f600")
    assert inbound.agent_frame({"type": "transfer", "session_id": "s1", "to": BOB.id, "note": "  "}).note is None
    assert inbound.agent_frame({"type": "agents"}) == inbound.ListAgents()
    assert inbound.agent_frame({"type": "leave", "session_id": "s1", "note": "hi"}) == inbound.Leave("s1", "hi")


def test_customers_cannot_transfer():
    with pytest.raises(ChatError) as refused:
        inbound.customer_frame({"type": "transfer", "session_id": "s1", "to": BOB.id})
    assert refused.value.code == "unknown-type"


def test_a_saved_transcript_names_the_new_agent_and_the_text_export_says_who_took_over(session, log):
    from transcripts.saving import batch

    for event in session.transfer(ALICE, BOB, "parcel 42"):
        log.append(stored(session, event))
    made = batch("s1", session.facts(), log, 0, "all")
    assert [p["nickname"] for p in made.participants] == ["Carol", "Alice", "Bob"]
    assert [e["type"] for e in made.events][-2:] == ["notice", "transferred"]


@pytest.mark.django_db
def test_the_text_export_shows_the_transfer_on_one_line():
    from django.utils import timezone

    from transcripts import export
    from transcripts.models import Transcript

    transcript = Transcript.objects.create(session_id="s1", pair="p", subject="", started_at=timezone.now())
    transcript.participants.create(participant_id=ALICE.id, role="agent", nickname="Alice")
    transcript.participants.create(participant_id=BOB.id, role="agent", nickname="Bob\nEnded: never")
    transcript.events.create(seq=1, type="transferred", at=timezone.now(), data={
        "from": ALICE.id, "to": {"id": BOB.id, "role": "agent", "nickname": "Bob\nEnded: never"}})
    last = export.as_text(transcript).splitlines()[-1]
    assert last.endswith(" * Alice transferred the chat to Bob\u240aEnded: never"), last


def test_a_transfer_restarts_the_inactivity_timer(session):
    from chat.session import Inactivity

    rules = Inactivity(alert_s=60, close_s=100)
    session.active_at = 0.0  # quiet since long ago
    assert session.inactivity_due(1_000.0, rules) is not None
    stored(session, session.transfer(ALICE, BOB)[-1])
    assert session.quiet_since(rules) > 1_000.0
    assert session.inactivity_due(session.active_at + 30, rules) is None


def test_the_picker_passes_over_the_agent_who_handed_the_chat_back_unless_nobody_else_has_room():
    from chat.assignment import AgentPicker

    picker = AgentPicker()
    picker.update("alice", 0, ready_since=1.0)
    picker.update("bob", 2, ready_since=2.0)
    assert picker.pick(capacity=3) == "alice"
    assert picker.pick(capacity=3, avoid="alice") == "bob"
    assert picker.pick(capacity=3, avoid="alice") == "bob"  # looking past alice left her in the heap
    assert picker.pick(capacity=3, avoid="bob") == "alice"
    picker.update("bob", 3, ready_since=2.0)  # full
    assert picker.pick(capacity=3, avoid="alice") == "alice"
    picker.update("alice", 3, ready_since=1.0)
    assert picker.pick(capacity=3, avoid="alice") is None


def test_the_session_remembers_who_handed_it_back_until_an_agent_joins(session, log):
    for event in session.leave(ALICE, "note"):
        log.append(stored(session, event))
    assert session.left_by == ALICE.id
    assert ChatSession.rebuild("s1", session.facts(), log).left_by == ALICE.id  # a takeover keeps it
    log.append(stored(session, session.joined(BOB)))
    assert session.left_by is None
