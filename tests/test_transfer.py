"""Transfers against real chat servers: an agent hands a chat to another agent
(who gets its whole history, while the customer sees the change) or back to the
queue with a note; a transfer to an agent who cannot take the chat changes
nothing; a transfer survives a kill -9 of the primary."""
from __future__ import annotations

import json
import signal

import pytest

from chat import live_sessions
from chatsite import rediskeys

from .conftest import log_length, run_switchover
from .harness import Client, Participant, customer_starts, new_client_id, ready_agent, wait_for
from .test_failover import pair, topology  # noqa: F401 (pair: the primary and backup fixture)


def listed(desk: Client | Participant) -> list[dict]:
    """The agents the desk could transfer a chat to now (``agents``)."""
    desk.send(type="agents")
    return desk.until(type="agents")["agents"]


def transfer_target(desk: Client | Participant, nickname: str) -> str:
    """The participant id of ``nickname`` once the desk lists it: that agent's ``ready``
    came on its own socket, so the desk asks until the server has taken it."""
    return wait_for(lambda: next((a["id"] for a in listed(desk) if a["nickname"] == nickname), None), 5,
                    f"{nickname} to be listed")


def assigned_id(agent: Client) -> str:
    """The agent's own participant id, from the ``assigned`` it got already."""
    return next(f for f in agent.frames if f.get("type") == "assigned")["participant_id"]


def assert_gapless(events: list[dict]) -> None:
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), "a gap in seq"


def test_a_transfer_hands_the_chat_and_its_history_to_the_other_agent(chat, agent, redis_client):
    carol, alice = chat
    session_id = carol.started["session_id"]
    alice_id = assigned_id(alice)
    bob = agent("bob")
    carol.send(type="message", text="my parcel is late", client_id=new_client_id())
    alice.until(type="message", text="my parcel is late")

    alice.send(type="transfer", session_id=session_id, to=transfer_target(alice, "Bob"), note="parcel 42, late")

    transferred = carol.until(type="transferred")
    assert (transferred["from"], transferred["nickname"]) == (alice_id, "Alice")
    assert transferred["to"]["nickname"] == "Bob"
    # The old agent's acknowledgement: the same event, counted in the staff's seq (the note before it).
    assert alice.until(type="transferred")["customer_seq"] == transferred["seq"]
    assigned = bob.until(type="assigned", session_id=session_id)
    assert assigned["participant_id"] == transferred["to"]["id"]
    assert assigned["customer"]["nickname"] == "Carol"
    bobs_transferred = bob.until(type="transferred")
    history = bob.events(session_id)
    assert_gapless(history)
    assert any(e.get("text") == "my parcel is late" for e in history)
    assert any(e.get("notice") == "transfer-note" and e["text"] == "parcel 42, late" for e in history)
    assert log_length(redis_client, session_id) == bobs_transferred["seq"]
    # Carol is never sent the note; her own count has no gap where it is.
    shown = carol.events(session_id)
    assert_gapless(shown)
    assert [e["type"] for e in shown] == [e["type"] for e in history if e.get("visibility") != "internal"]
    assert "parcel 42" not in json.dumps(carol.frames)

    bob.send(type="message", session_id=session_id, text="Bob here, I will look", client_id=new_client_id())
    said = carol.until(type="message", text="Bob here, I will look")
    assert said["seq"] == transferred["seq"] + 1
    assert said["nickname"] == "Bob"
    carol.send(type="message", text="thanks Bob", client_id=new_client_id())
    bob.until(type="message", text="thanks Bob")
    assert [f for f in alice.quiet() if f.get("session_id") == session_id] == []
    alice.send(type="message", session_id=session_id, text="still mine?", client_id=new_client_id())
    assert alice.until(type="error")["code"] == "not-yours"


def refused_and_nothing_changed(alice: Client, carol: Client, redis_client, frame: dict, why: str) -> None:
    session_id = carol.started["session_id"]
    before = log_length(redis_client, session_id)
    alice.send(**frame)
    error = alice.until(type="error")
    assert error["code"] == "agent-unavailable", error
    assert why in error["message"]
    assert log_length(redis_client, session_id) == before
    assert [f for f in carol.quiet() if f.get("type") == "transferred"] == []


def test_a_transfer_to_an_agent_who_cannot_take_the_chat_is_refused_and_changes_nothing(chat, agent, redis_client):
    carol, alice = chat
    session_id = carol.started["session_id"]
    alice_id = assigned_id(alice)
    bob = agent("bob", ready=False)
    bob.send(type="ready", available=True)
    bob_id = transfer_target(alice, "Bob")
    bob.send(type="ready", available=False)
    # Bob went unavailable (once his socket's frame is taken); alice is never listed.
    wait_for(lambda: listed(alice) == [], 5, "bob to be unlisted")

    for to, why in ((bob_id, "Bob is not available"), ("agent-0000000000000000", "not logged in"),
                    (alice_id, "yours already")):
        refused_and_nothing_changed(alice, carol, redis_client,
                                    {"type": "transfer", "session_id": session_id, "to": to}, why)
    bob.close()
    before = log_length(redis_client, session_id)

    def refusal() -> str:
        alice.send(type="transfer", session_id=session_id, to=bob_id)
        error = alice.until(type="error")
        assert error["code"] == "agent-unavailable"
        return error["message"]

    # Refused all along; "not logged in" once the server has seen his socket close.
    wait_for(lambda: "not logged in" in refusal(), 5, "bob's logout to be seen")
    assert log_length(redis_client, session_id) == before

    # Alice still has the chat.
    alice.send(type="message", session_id=session_id, text="still with you", client_id=new_client_id())
    assert carol.until(type="message", text="still with you")["seq"] == log_length(redis_client, session_id)


def test_a_transfer_to_an_agent_at_capacity_is_refused(make_application, start_server, clients, agent_cookie,
                                                       redis_client):
    server = start_server(make_application(agent_capacity="1"))

    def open_agent(username: str) -> Client:
        client = Client.open(f"{server.ws}/ws/agent/", cookie=agent_cookie(username))
        clients.append(client)
        client.send(type="ready")
        return client

    def open_customer(nickname: str) -> Client:
        client = Client.open(f"{server.ws}/ws/chat/")
        clients.append(client)
        client.send(type="start", nickname=nickname)
        client.started = client.until(type="started")
        return client

    alice = open_agent("alice")
    carol = open_customer("Carol")
    alice.until(type="assigned")
    bob = open_agent("bob")
    bob_id = transfer_target(alice, "Bob")
    open_customer("Dave")
    bob.until(type="assigned")  # bob's one chat: he is full
    assert listed(alice) == []
    refused_and_nothing_changed(alice, carol, redis_client,
                                {"type": "transfer", "session_id": carol.started["session_id"], "to": bob_id},
                                "agent-capacity (1)")


def test_a_transfer_of_a_chat_that_is_not_yours_is_refused(chat, agent, customer, redis_client):
    carol, _ = chat
    bob = agent("bob")
    dave = customer("Dave")
    bob.until(type="assigned", session_id=dave.started["session_id"])
    alice_id = transfer_target(bob, "Alice")
    before = log_length(redis_client, carol.started["session_id"])
    bob.send(type="transfer", session_id=carol.started["session_id"], to=alice_id)
    assert bob.until(type="error")["code"] == "not-yours"
    assert log_length(redis_client, carol.started["session_id"]) == before


@pytest.mark.parametrize(("frame", "code"), [
    ({"type": "transfer", "to": "agent-0"}, "missing-field"),
    ({"type": "transfer", "session_id": "SID", "to": 42}, "bad-frame"),
    ({"type": "transfer", "session_id": "SID", "to": "a" * 100_000}, "too-long"),
    ({"type": "transfer", "session_id": "SID", "to": "agent-\u2028x"}, "bad-text"),
    ({"type": "transfer", "session_id": "SID", "to": "agent-0", "note": "\u0000"}, "bad-text"),
    ({"type": "leave", "session_id": "SID", "note": ["a", "list"]}, "bad-frame"),
])
def test_a_bad_transfer_frame_is_answered_with_an_error_and_changes_nothing(chat, redis_client, frame, code):
    carol, alice = chat
    session_id = carol.started["session_id"]
    before = log_length(redis_client, session_id)
    alice.send_raw(json.dumps(frame).replace("SID", session_id))
    assert alice.until(type="error")["code"] == code
    assert log_length(redis_client, session_id) == before
    carol.send(type="message", text="still here", client_id=new_client_id())
    assert alice.until(type="message", text="still here")["seq"] == before + 1


def test_back_to_the_queue_with_a_note_the_next_agent_reads_it(chat, agent):
    carol, alice = chat
    session_id = carol.started["session_id"]
    alice.send(type="ready", available=False)
    alice.send(type="leave", session_id=session_id, note="wants the manager")
    note = alice.until(type="notice", notice="transfer-note")
    assert note["visibility"] == "internal"
    assert alice.until(type="left")["seq"] == note["seq"] + 1
    carol.until(type="left")
    carol.until(type="notice", notice="queued")
    bob = agent("bob")
    bob.until(type="assigned", session_id=session_id)
    bob.until(type="joined", nickname="Bob")
    history = bob.events(session_id)
    assert_gapless(history)
    assert [e["text"] for e in history if e.get("notice") == "transfer-note"] == ["wants the manager"]
    carol.until(type="joined", nickname="Bob")
    assert_gapless(carol.events(session_id))
    assert "wants the manager" not in json.dumps(carol.frames)


def test_a_chat_handed_back_goes_to_another_agent_with_room_else_back_to_its_agent(chat, agent, redis_client):
    """Alice, still available and with the fewest chats, is passed over for bob; when
    nobody else can take it, the chat she hands back comes back to her rather than wait."""
    carol, alice = chat
    session_id = carol.started["session_id"]
    bob = agent("bob")
    alice.send(type="leave", session_id=session_id)
    bob.until(type="assigned", session_id=session_id)
    assert [f for f in alice.quiet() if f.get("type") == "assigned"] == []
    bob.send(type="ready", available=False)
    bob.send(type="leave", session_id=session_id)
    alice.until(type="assigned", session_id=session_id)
    alice.send(type="leave", session_id=session_id)  # bob is away: nobody else has room
    alice.until(type="assigned", session_id=session_id)
    log = [json.loads(raw) for raw in redis_client.lrange(rediskeys.session_log(session_id), 0, -1)]
    assert [(e["type"], e["nickname"]) for e in log[-2:]] == [("left", "Alice"), ("joined", "Alice")]


@pytest.fixture
def transferred(pair, agent_cookie):  # noqa: F811
    """Carol's chat, handed by alice to bob, on a primary with its backup: (primary,
    backup, alice, bob, carol, session_id), each a Participant that fails over."""
    made: list[Participant] = []

    def start():
        primary, backup = pair()
        servers = [primary.ws, backup.ws]
        alice = ready_agent(servers, agent_cookie("alice"))
        alice.resume_frame = None  # after a failover her desk asks for the chat back by hand
        made.append(alice)
        carol, session_id = customer_starts(servers)
        made.append(carol)
        alice.until(type="assigned")
        carol.say("before the transfer")
        carol.drain_until_acked()
        bob = ready_agent(servers, agent_cookie("bob"))
        made.append(bob)
        alice.send(type="transfer", session_id=session_id, to=transfer_target(alice, "Bob"))
        bob.until(type="assigned", session_id=session_id)
        bob.until(type="transferred")
        carol.until(type="transferred")
        alice.until(type="transferred")
        return primary, backup, alice, bob, carol, session_id

    yield start
    for participant in made:
        participant.close()


def assert_bob_has_the_chat(bob: Participant, carol: Participant, session_id: str) -> None:
    bob.say("Bob, on the new primary", session_id)
    carol.sees(session_id, "Bob, on the new primary")
    carol.say("Carol, on the new primary")
    bob.sees(session_id, "Carol, on the new primary")
    for side in (carol, bob):
        events = side.events(session_id)
        assert_gapless(events)
        assert [e["to"]["nickname"] for e in events if e["type"] == "transferred"] == ["Bob"]


def test_a_transfer_survives_a_kill_9_of_the_primary(transferred, redis_client):
    primary, _, alice, bob, carol, session_id = transferred()

    primary.kill(signal.SIGKILL)

    carol.connect()
    bob.connect()  # resumes the session it was given: the restored session has bob as its agent
    assert_bob_has_the_chat(bob, carol, session_id)
    # What an operator sees (the admin's live sessions, rebuilt from the log): Bob's chat.
    [live] = [row for row in live_sessions.read(redis_client, [live_sessions.pair_of(redis_client, session_id)])
              if row.session_id == session_id]
    assert live.agent == "Bob"
    # Alice's desk asks for the chat back after the failover: it is not hers any more.
    alice.connect()
    alice.send(type="resume", sessions={session_id: alice.last_seq(session_id)})
    refused = alice.until(type="error")
    assert (refused["code"], refused["session_id"]) == ("not-yours", session_id)


def test_a_transfer_carries_over_a_switchover(transferred, redis_url):
    primary, backup, _, bob, carol, session_id = transferred()

    result = run_switchover(topology(primary)["pair"], redis_url)
    assert result.returncode == 0, result.stderr

    for side in (carol, bob):
        side.connect()
        assert side.connected_to == backup.ws
    assert_bob_has_the_chat(bob, carol, session_id)
