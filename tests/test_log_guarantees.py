"""The live log's guarantees: a re-sent message is stored once, resume replays
exactly what was missed, and everything is in Redis before anyone sees it."""
import json

from chatsite import rediskeys

from .harness import Client, new_client_id, wait_for


def stored_events(redis_client, session_id):
    return [json.loads(raw) for raw in redis_client.lrange(rediskeys.session_log(session_id), 0, -1)]


def test_a_message_resent_with_the_same_client_id_is_stored_once(customer, agent, redis_client):
    alice = agent("alice")
    carol = customer("Carol")
    session_id = carol.started["session_id"]
    alice.until(type="assigned")
    client_id = new_client_id()

    carol.send(type="message", text="only once", client_id=client_id)
    first = carol.until(type="message")
    carol.send(type="message", text="only once", client_id=client_id)
    again = carol.until(type="message")

    assert again == first  # the answer to a re-send is the original event
    assert alice.until(type="message")["seq"] == first["seq"]
    assert [e for e in alice.quiet() if e.get("type") == "message"] == []
    texts = [e["text"] for e in stored_events(redis_client, session_id) if e["type"] == "message"]
    assert texts == ["only once"]


def test_every_event_is_in_the_live_log_with_its_seq(customer, agent, redis_client):
    alice = agent("alice")
    carol = customer("Carol")
    alice.until(type="assigned")
    carol.send(type="message", text="stored first", client_id=new_client_id())
    seen = alice.until(type="message")
    log = stored_events(redis_client, carol.started["session_id"])
    assert log[seen["seq"] - 1] == seen
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))


def test_resume_after_a_dropped_socket_delivers_exactly_what_was_missed(server, customer, agent, clients):
    alice = agent("alice")
    carol = customer("Carol")
    session_id, token = carol.started["session_id"], carol.started["token"]
    alice.until(type="assigned")
    carol.send(type="message", text="before", client_id=new_client_id())
    last_seen = carol.until(type="message", text="before")["seq"]
    carol.close()

    assert alice.until(type="disconnected")["role"] == "customer"
    for n in range(3):
        alice.send(type="message", session_id=session_id, text=f"missed {n}", client_id=new_client_id())
    alice.until(type="message", text="missed 2")

    again = Client.open(f"{server.ws}/ws/chat/")
    clients.append(again)
    again.send(type="resume", session_id=session_id, token=token, last_seq=last_seen)
    resumed = again.until(type="resumed")
    assert resumed["session_id"] == session_id and resumed["epoch"] >= 1
    replay = [again.recv() for _ in range(resumed["last_seq"] - last_seen)]
    assert [e["seq"] for e in replay] == list(range(last_seen + 1, resumed["last_seq"] + 1))
    assert [e["text"] for e in replay if e["type"] == "message"] == ["missed 0", "missed 1", "missed 2"]
    assert replay[0]["type"] == "disconnected"
    # Coming back is an event for everyone.
    assert again.until(type="reconnected")["seq"] == resumed["last_seq"] + 1
    assert alice.until(type="reconnected")["from"] == carol.started["participant_id"]
    again.send(type="message", text="after", client_id=new_client_id())
    assert alice.until(type="message", text="after")


def test_a_customer_who_leaves_ends_the_chat_for_everyone(customer, agent):
    alice = agent("alice")
    carol = customer("Carol")
    alice.until(type="assigned")
    carol.send(type="leave")
    assert carol.until(type="closed")["reason"] == "customer-left"
    closed = alice.until(type="closed")
    assert closed["reason"] == "customer-left"
    left = [e for e in alice.events(closed["session_id"]) if e["type"] == "left"]
    assert left and left[0]["role"] == "customer"


def test_an_agent_closes_a_chat_and_gets_the_next_waiting_one(customer, agent):
    dave = customer("Dave")
    erin = customer("Erin")
    alice = agent("alice", ready=False)
    alice.send(type="ready")
    first = alice.until(type="assigned")["session_id"]
    second = alice.until(type="assigned")["session_id"]
    assert {first, second} == {dave.started["session_id"], erin.started["session_id"]}
    alice.send(type="close", session_id=first)
    assert alice.until(type="closed", session_id=first)["reason"] == "agent-closed"
    assert dave.until(type="closed")["reason"] == "agent-closed"


def test_a_closed_sessions_log_expires_once_its_transcript_is_saved_and_leaves_the_open_set(
        customer, redis_client, server, worker):
    from ha.models import Application

    open_sessions = rediskeys.pair_open_sessions(Application.objects.get(name=server.name).pair)
    carol = customer("Carol")
    session_id = carol.started["session_id"]
    assert redis_client.sismember(open_sessions, session_id)
    assert redis_client.ttl(rediskeys.session_log(session_id)) == -1  # kept while open
    carol.send(type="leave")
    carol.until(type="closed")
    assert not redis_client.sismember(open_sessions, session_id)
    # Kept until the final save is stored (issue 10), then for a day of late resumes.
    wait_for(lambda: redis_client.ttl(rediskeys.session_log(session_id)) > 0, 10, "the log's expiry")
    assert redis_client.ttl(rediskeys.session_log(session_id)) <= 24 * 3600
