"""A customer and an agent chat through one real chat server process."""
from .harness import new_client_id


def test_a_customer_is_routed_to_a_ready_agent_and_they_chat(customer, agent):
    alice = agent("alice")
    carol = customer("Carol", subject="billing")
    session_id = carol.started["session_id"]

    assigned = alice.until(type="assigned")
    assert assigned["session_id"] == session_id
    assert assigned["customer"]["nickname"] == "Carol"
    assert assigned["subject"] == "billing"

    carol.send(type="message", text="hello", client_id=new_client_id())
    got = alice.until(type="message")
    assert (got["text"], got["from"], got["role"]) == ("hello", carol.started["participant_id"], "customer")

    alice.send(type="message", session_id=session_id, text="hi Carol", client_id=new_client_id())
    assert carol.until(type="message", text="hi Carol")["role"] == "agent"
    # The sender gets its own copy: its acknowledgement.
    assert alice.until(type="message", text="hi Carol")["session_id"] == session_id


def test_with_no_agent_the_chat_waits_in_the_queue_and_the_customer_is_told(customer, agent):
    carol = customer("Carol")
    dave = customer("Dave")
    assert carol.until(type="notice")["notice"] == "queued"
    assert carol.frames[-1]["position"] == 1
    assert dave.until(type="notice")["position"] == 2

    alice = agent("alice")
    assert alice.until(type="assigned")["session_id"] == carol.started["session_id"]
    assert carol.until(type="joined", role="agent")["nickname"] == "Alice"


def test_the_agent_with_fewest_open_chats_gets_the_next_one(customer, agent):
    alice = agent("alice")
    first = customer("Carol")
    assert alice.until(type="assigned")["session_id"] == first.started["session_id"]
    bob = agent("bob")
    second = customer("Dave")
    assert bob.until(type="assigned")["session_id"] == second.started["session_id"]


def test_seq_counts_from_one_with_no_gap(customer, agent):
    alice = agent("alice")
    carol = customer("Carol")
    session_id = carol.started["session_id"]
    alice.until(type="assigned")
    for n in range(20):
        carol.send(type="message", text=f"m{n}", client_id=new_client_id())
    carol.until(type="message", text="m19")
    alice.until(type="message", text="m19")
    for client in (carol, alice):
        seqs = [f["seq"] for f in client.frames if f.get("session_id") == session_id and "seq" in f]
        assert seqs == list(range(1, len(seqs) + 1))
        assert [e["text"] for e in client.events(session_id) if e["type"] == "message"] == [
            f"m{n}" for n in range(20)
        ]


def test_an_idle_chat_keeps_its_sockets(customer, agent):
    """Nothing in the server times a quiet socket out (Redis waits included)."""
    alice = agent("alice")
    carol = customer("Carol")
    alice.until(type="assigned")
    carol.quiet(seconds=7)
    carol.send(type="message", text="still there?", client_id=new_client_id())
    assert alice.until(type="message", text="still there?")


def test_a_chat_nobody_writes_in_is_closed_for_inactivity(make_application, start_server, clients, agent_cookie):
    from .harness import Client

    server = start_server(make_application(session_inactivity_timeout="2"))
    carol = Client.open(f"{server.ws}/ws/chat/")
    clients.append(carol)
    carol.send(type="start", nickname="Carol")
    carol.until(type="started")
    carol.send(type="message", text="anyone?", client_id=new_client_id())
    carol.until(type="message")
    closed = carol.until(type="closed", timeout=6)
    assert closed["reason"] == "inactivity"


def test_waiting_customers_are_told_when_their_place_in_the_queue_moves(
    make_application, start_server, clients, agent_cookie
):
    from .harness import Client

    server = start_server(make_application(agent_capacity="1"))

    def start(nickname: str) -> Client:
        client = Client.open(f"{server.ws}/ws/chat/")
        clients.append(client)
        client.send(type="start", nickname=nickname)
        client.until(type="started")
        return client

    carol, dave, erin = start("Carol"), start("Dave"), start("Erin")
    assert erin.until(type="notice")["position"] == 3
    alice = Client.open(f"{server.ws}/ws/agent/", cookie=agent_cookie("alice"))
    clients.append(alice)
    alice.send(type="ready")
    assert carol.until(type="joined", role="agent")
    assert dave.until(type="notice", position=1)
    assert erin.until(type="notice", position=2)
