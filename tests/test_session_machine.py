"""The chat session state machine, without Redis: commands check, apply folds."""
import json

import pytest

from chat.assignment import AgentPicker
from chat.session import SNAPSHOT_FACT, ChatError, ChatSession, Participant, Status


def stored(session: ChatSession, event: dict) -> dict:
    """What the live log does: number the event; then the session folds it."""
    event = {**event, "seq": session.last_seq + 1}
    session.apply(event)
    return event


@pytest.fixture
def session() -> ChatSession:
    session, _ = ChatSession.open("s1", "pair", "Carol", "billing")
    stored(session, session.joined(session.customer))
    return session


ALICE = Participant.agent(1, "Alice")
BOB = Participant.agent(2, "Bob")


def test_a_new_session_waits_for_an_agent_and_knows_its_token():
    session, token = ChatSession.open("s1", "pair", "Carol", "")
    assert session.status is Status.QUEUED
    assert session.token_matches(token) and not session.token_matches(token + "x")
    assert token not in str(session.facts())


def test_an_agent_joining_makes_the_session_active(session):
    stored(session, session.joined(ALICE))
    assert session.status is Status.ACTIVE and session.agent == ALICE


def test_only_participants_may_write(session):
    with pytest.raises(ChatError) as refused:
        session.message(BOB, "hi", "c1", 100)
    assert refused.value.code == "not-yours"


def test_a_message_over_the_limit_or_empty_is_refused(session):
    with pytest.raises(ChatError) as refused:
        session.message(session.customer, "x" * 11, "c1", 10)
    assert refused.value.code == "too-long"
    with pytest.raises(ChatError):
        session.message(session.customer, "   ", "c1", 10)


def test_a_customer_leaving_closes_and_nothing_more_is_accepted(session):
    for event in session.leave(session.customer):
        stored(session, event)
    assert session.status is Status.CLOSED
    with pytest.raises(ChatError) as refused:
        session.message(session.customer, "hello?", "c1", 100)
    assert refused.value.code == "session-closed"


def test_an_agent_leaving_hands_the_chat_back_to_the_queue(session):
    stored(session, session.joined(ALICE))
    for event in session.leave(ALICE):
        stored(session, event)
    assert session.status is Status.QUEUED and session.agent is None


def test_disconnect_and_reconnect_are_told_once_each(session):
    event = stored(session, session.disconnected(session.customer))
    assert event["type"] == "disconnected"
    assert session.disconnected(session.customer) is None
    assert stored(session, session.reconnected(session.customer))["type"] == "reconnected"
    assert session.reconnected(session.customer) is None


def test_a_session_rebuilt_from_its_log_is_the_same(session):
    stored(session, session.joined(ALICE))
    log = [stored(session, session.message(ALICE, f"m{n}", f"c{n}", 100)) for n in range(3)]
    at = log[0]["at"]
    rebuilt = ChatSession.rebuild(session.id, session.facts(), [
        {"type": "joined", "from": session.customer.id, "role": "customer", "nickname": "Carol", "seq": 1, "at": at},
        {"type": "joined", "from": ALICE.id, "role": "agent", "nickname": "Alice", "seq": 2, "at": at},
        *log,
    ])
    assert (rebuilt.status, rebuilt.agent, rebuilt.last_seq, rebuilt.connected, rebuilt.last_message_at) == (
        session.status, session.agent, session.last_seq, session.connected, session.last_message_at
    )


def test_a_session_is_idle_only_past_the_timeout_and_never_with_zero(session):
    stored(session, session.message(session.customer, "hi", "c1", 100))
    assert not session.idle(session.last_message_at + 5, timeout_s=10)
    assert session.idle(session.last_message_at + 11, timeout_s=10)
    assert not session.idle(session.last_message_at + 10**6, timeout_s=0)


def test_the_agent_with_fewest_chats_then_longest_ready_is_picked():
    picker = AgentPicker()
    for agent, open_chats, ready_since in (("a", 2, 1.0), ("b", 1, 5.0), ("c", 1, 3.0)):
        picker.update(agent, open_chats, ready_since)
    assert picker.pick(capacity=3) == "c"
    full = AgentPicker()
    full.update("a", 3, 1.0)
    assert full.pick(capacity=3) is None


SUE = Participant.supervisor(3, "Sue")


def a_long_chat() -> tuple[ChatSession, list[dict]]:
    """A chat through every kind of event that changes the state: queue, join,
    messages, coaching, a barge-in, drops and returns, save notices, an
    inactivity alert, a leave back to the queue, a transfer, the close."""
    session, _ = ChatSession.open("s1", "pair", "Carol", "billing")
    log = [stored(session, session.joined(session.customer)), stored(session, session.queued(1))]
    log.append(stored(session, session.joined(ALICE)))
    for n in range(40):
        who = session.customer if n % 2 else ALICE
        log.append(stored(session, session.message(who, f"m{n}", f"c{n}", 100)))
        if n % 7 == 0:
            log.append(stored(session, session.staff_message(SUE, f"coach {n}", f"s{n}", 100, "internal")))
        if n % 11 == 0:
            log.append(stored(session, session.save_notice(session.last_seq)))
    log.append(stored(session, session.barge_in(SUE)))
    log.append(stored(session, session.disconnected(session.customer)))
    log.append(stored(session, session.inactivity_alert("still there?")))
    log.append(stored(session, session.reconnected(session.customer)))
    log.extend(stored(session, event) for event in session.leave(ALICE, "over to you"))
    log.append(stored(session, session.joined(BOB)))
    log.extend(stored(session, event) for event in session.transfer(BOB, ALICE, "back to you"))
    log.extend(stored(session, event) for event in session.leave(SUE))
    log.append(stored(session, session.close(ALICE)))
    return session, log


def state(session: ChatSession) -> dict:
    from dataclasses import asdict

    return {name: value for name, value in asdict(session).items() if name != "following"}


def test_a_session_rebuilt_from_a_snapshot_and_what_follows_is_the_one_its_whole_log_folds_to():
    """At every point of a long chat: the snapshot, then the rest of the log (or the
    whole log, as the admin's live view reads it), fold to the same state."""
    whole, log = a_long_chat()
    assert whole.status is Status.CLOSED and len(log) > 60
    for cut in range(len(log) + 1):
        before = ChatSession.rebuild(whole.id, whole.facts(), log[:cut])
        facts = {**whole.facts(), SNAPSHOT_FACT: before.snapshot()}
        for events in (log[cut:], log):
            assert state(ChatSession.rebuild(whole.id, facts, events)) == state(whole), cut


def test_a_snapshot_holds_every_part_of_the_state_that_the_log_decides():
    """A field added to ChatSession and left out of the snapshot fails here."""
    from dataclasses import fields

    kept = set(json.loads(a_long_chat()[0].snapshot())) - {"seq"}
    first_facts = {"id", "pair", "customer", "subject", "token_hash", "started_at"}
    assert kept | first_facts | {"last_seq", "following"} == {f.name for f in fields(ChatSession)}
