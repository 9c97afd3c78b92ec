"""The public socket as an attacker meets it, against a real daphne process:
every hostile frame gets an error frame (the socket kept) or a close with the
clean-up of a disconnect; nothing is stored for it, no ghost is left (a dead
agent socket is not routed to, its chats are told), no chat is poisoned.

The server here counts loopback like any address (CHAT_TRUSTED_ADDRESSES
empty) and has small limits, so that each one is reached with a few frames."""
from __future__ import annotations

import json
import socket

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from chat.frames import CLOSE_POLICY_VIOLATION
from chatsite import rediskeys

from .conftest import log_length
from .harness import Client, new_client_id, wait_for

LIMITS = {
    "socket_messages_per_10s": "5",
    "socket_typing_per_10s": "5",
    "socket_frames_per_10s": "40",
    "address_sockets": "6",
    "address_new_chats_per_minute": "4",
    "queue_max_waiting": "100",
}


@pytest.fixture
def server(make_application, start_server):
    return start_server(make_application(**LIMITS), CHAT_TRUSTED_ADDRESSES="")


def closed_with(client: Client, timeout: float = 5) -> int:
    """Read until the server closes the socket; its close code."""
    try:
        while True:
            client.recv(timeout=timeout)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else 1006


def test_a_client_id_comes_back_exactly_as_sent(chat):
    """The sender's own copy is its acknowledgement, matched by client_id: nothing
    may trim or change it."""
    carol, _ = chat
    carol.send(type="message", text="padded", client_id="  padded id ")
    assert carol.until(type="message", text="padded")["client_id"] == "  padded id "


def test_a_message_with_newlines_and_tabs_is_kept_as_typed(chat):
    carol, alice = chat
    text = "line one\n\tline two \U0001F600 \u202e"
    carol.send(type="message", text=text, client_id=new_client_id())
    assert alice.until(type="message")["text"] == text


@pytest.mark.parametrize(
    ("nickname", "subject"),
    [("\udfff", "s"), ("a\u0000b", "s"), ("x" * 65, "s"), ("two\nlines", "s"), ("   ", "s"),
     ("Carol", "\udfff"), ("Carol", "a\u0000b"), ("Carol", "y" * 201), ("Carol", 42)],
    ids=["lone-surrogate", "nul", "too-long", "newline", "blank",
         "subject-lone-surrogate", "subject-nul", "subject-too-long", "subject-not-text"],
)
def test_a_start_with_a_bad_nickname_or_subject_opens_no_session(server, redis_client, clients, nickname, subject):
    """No `started`, no token, nothing queued: a session is stored before it is told."""
    client = Client.open(f"{server.ws}/ws/chat/")
    clients.append(client)
    client.send_raw(json.dumps({"type": "start", "nickname": nickname, "subject": subject}))
    assert client.until(type="error")["code"] in {"bad-text", "too-long", "bad-frame"}
    assert redis_client.zcard(rediskeys.pair_queue(topology_pair(server))) == 0
    assert not [f for f in client.frames if f["type"] == "started"]
    client.send(type="start", nickname="Fine", subject="s")
    assert client.until(type="started")["session_id"]


def topology_pair(server) -> str:
    from .harness import http_get

    return json.loads(http_get(f"{server.http}/api/ha/topology")[1])["pair"]


def test_an_unknown_type_is_not_echoed_back_whole(chat):
    carol, _ = chat
    carol.send_raw(json.dumps({"type": "x" * 100_000}))
    error = carol.until(type="error")
    assert error["code"] == "unknown-type" and len(error["message"]) < 300


def test_a_frame_over_the_size_limit_closes_the_socket_and_the_chat_is_told(chat):
    carol, alice = chat
    session_id = carol.started["session_id"]
    carol.send_raw(json.dumps({"type": "message", "text": "x" * 200_000, "client_id": "big"}))
    # autobahn fails the connection by dropping it (1006), or closes it with 1009
    assert closed_with(carol) in {1006, 1009}
    gone = alice.until(type="disconnected", session_id=session_id)
    assert gone["from"] == carol.started["participant_id"]


@pytest.mark.parametrize("payload", [b"\xff\xfe", b"{\"type\": \"message\", \"text\": \"\xed\xa0\x80\"}",
                                     b"{\"type\": \"typing\", \"state\": tr\xc3"],
                         ids=["not-utf-8", "encoded-surrogate", "cut-in-a-code-point"])
def test_a_text_frame_that_is_not_utf_8_closes_the_socket_with_1007_and_the_chat_is_told(chat, redis_client,
                                                                                          payload):
    """A text frame must be UTF-8 (RFC 6455, 8.1): one that is not is never
    decoded into a frame; the socket is failed with 1007, as any broken frame
    closes it, with the clean-up of a disconnect, and nothing is stored for it."""
    carol, alice = chat
    session_id = carol.started["session_id"]
    before = log_length(redis_client, session_id)
    carol.ws.send(payload, text=True)  # the bytes as they are, in a text frame
    assert closed_with(carol) == 1007
    gone = alice.until(type="disconnected", session_id=session_id)
    assert gone["from"] == carol.started["participant_id"]
    assert log_length(redis_client, session_id) == before + 1  # the disconnected event, nothing else


def test_typing_floods_are_not_relayed_past_the_limit(chat):
    carol, alice = chat
    for n in range(30):
        carol.send(type="typing", state=n % 2 == 0)
    errors = [carol.until(type="error") for _ in range(25)]
    assert {e["code"] for e in errors} == {"rate-limited"} and "socket-typing-per-10s" in errors[0]["message"]
    relayed = [f for f in alice.quiet(0.5) if f["type"] == "typing"]
    assert 5 <= len(relayed) < 10, f"{len(relayed)} typing notices relayed"


def test_a_message_flood_is_refused_past_the_limit_and_nothing_refused_is_stored(chat, redis_client):
    carol, _ = chat
    session_id = carol.started["session_id"]
    before = log_length(redis_client, session_id)
    sent = [new_client_id() for _ in range(12)]
    for client_id in sent:
        carol.send(type="message", text=f"flood {client_id}", client_id=client_id)
    refused = [carol.until(type="error") for _ in range(12 - 5)]
    assert {e["code"] for e in refused} <= {"rate-limited"}
    stored = log_length(redis_client, session_id) - before
    assert 5 <= stored < 12
    echoed = {f["client_id"] for f in carol.frames if f.get("type") == "message"}
    assert len(echoed) == stored, "a message that came back was not stored, or the reverse"


def test_a_frame_flood_closes_the_socket_with_the_clean_up_of_a_disconnect(customer, agent, clients, server):
    alice = agent("alice")
    carol = customer("Carol")
    session_id = alice.until(type="assigned")["session_id"]
    for _ in range(60):
        alice.send(type="ready")
    assert closed_with(alice) == CLOSE_POLICY_VIOLATION
    gone = carol.until(type="disconnected", session_id=session_id)
    assert gone["from"] != carol.started["participant_id"]
    # No ghost: a new chat waits instead of going to the closed socket's agent.
    dave = customer("Dave")
    assert dave.until(type="notice", notice="queued")["position"] >= 1


def test_an_address_holds_a_bounded_number_of_sockets_and_gets_them_back_when_closed(server, clients):
    opened = [Client.open(f"{server.ws}/ws/chat/") for _ in range(6)]
    clients.extend(opened)
    for client in opened:
        client.send(type="typing", state=False)  # a frame each: they are counted
        assert client.until(type="error")["code"] == "no-session"
    extra = Client.open(f"{server.ws}/ws/chat/")
    clients.append(extra)
    assert extra.until(type="error")["code"] == "too-many-sockets"
    assert closed_with(extra) == CLOSE_POLICY_VIOLATION
    opened[0].close()
    wait_for(lambda: _opens(server), 5, "a socket to be let in once one closed")


def test_standby_sockets_count_against_the_address_like_any_socket(server, clients):
    """A stranger cannot hold more sockets by asking for standbys: the seventh is refused."""
    opened = [Client.open(f"{server.ws}/ws/chat/?standby=1") for _ in range(6)]
    clients.extend(opened)
    for client in opened:
        assert client.recv() == {"type": "standby"}
    extra = Client.open(f"{server.ws}/ws/chat/?standby=1")
    clients.append(extra)
    assert extra.until(type="error")["code"] == "too-many-sockets"
    assert closed_with(extra) == CLOSE_POLICY_VIOLATION


def _opens(server) -> bool:
    """Whether a new socket from this address is let in (a frame gets the answer
    of a socket with no chat, not too-many-sockets)."""
    client = Client.open(f"{server.ws}/ws/chat/")
    try:
        client.send(type="typing", state=False)
        return client.until(type="error", timeout=2)["code"] == "no-session"
    except (AssertionError, ConnectionClosed, TimeoutError):
        return False
    finally:
        client.close()


def test_an_address_starts_a_bounded_number_of_chats_a_minute(server, clients):
    started, refused = 0, []
    for n in range(6):
        client = Client.open(f"{server.ws}/ws/chat/")
        clients.append(client)
        client.send(type="start", nickname=f"Bot {n}")
        frame = client.recv()
        while frame["type"] not in {"started", "error"}:
            frame = client.recv()
        if frame["type"] == "started":
            started += 1
        else:
            refused.append(frame)
    assert started == 4
    assert [f["code"] for f in refused] == ["rate-limited", "rate-limited"]
    assert "address-new-chats-per-minute" in refused[0]["message"]


def test_a_full_queue_answers_busy_and_opens_no_session(make_application, start_server, clients, redis_client):
    server = start_server(make_application(queue_max_waiting="2"))
    waiting = []
    for n in range(3):
        client = Client.open(f"{server.ws}/ws/chat/")
        clients.append(client)
        client.send(type="start", nickname=f"Customer {n}")
        waiting.append(client)
        if n < 2:  # one after the other: which of three at once comes third is not said
            assert client.until(type="started")
    error = waiting[2].until(type="error")
    assert error["code"] == "busy"
    assert redis_client.zcard(rediskeys.pair_queue(topology_pair(server))) == 2


def test_resuming_again_and_again_is_limited(chat):
    carol, _ = chat
    resume = {"type": "resume", "session_id": carol.started["session_id"], "token": carol.started["token"],
              "last_seq": 0}
    for _ in range(8):
        carol.send(**resume)
    answers = [carol.until(type="resumed") for _ in range(5)]
    assert len(answers) == 5
    assert carol.until(type="error")["code"] == "rate-limited"


def test_a_socket_that_stops_reading_is_dropped_instead_of_growing_the_server(make_application, start_server, clients):
    """Replays of a long chat to a socket that never reads: the server drops it
    once CHAT_MAX_UNSENT_BYTES wait for it, and goes on serving the chat."""
    server = start_server(make_application(socket_messages_per_10s="1000", socket_frames_per_10s="100000"),
                          CHAT_MAX_UNSENT_BYTES=str(256 * 1024))
    carol = Client.open(f"{server.ws}/ws/chat/")
    clients.append(carol)
    carol.send(type="start", nickname="Carol")
    started = carol.until(type="started")
    for n in range(250):
        carol.send(type="message", text=f"{n} " + "x" * 4000, client_id=f"m{n}")
    carol.until(type="message", client_id="m249", timeout=20)

    # A socket with a tiny receive buffer that reads nothing, asking for the whole log five times.
    stuck = socket.create_connection(("127.0.0.1", server.port))
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader = ws_connect(f"{server.ws}/ws/chat/", sock=stuck, max_queue=1, open_timeout=5)
    for _ in range(5):
        reader.send(json.dumps({"type": "resume", "session_id": started["session_id"], "token": started["token"],
                                "last_seq": 0}))
    wait_for(lambda: "stopped reading" in server.log(), 20, "the server to drop the socket that stopped reading")
    reader.close_socket()

    carol.send(type="message", text="still served", client_id="after")
    assert carol.until(type="message", client_id="after")["text"] == "still served"


def test_a_resume_of_a_long_chat_from_seq_0_gets_every_event_once_in_order(make_application, start_server, clients):
    """The log is replayed a page at a time (chat.livelog.REPLAY_PAGE, 500): more
    than two pages come whole, in order, with nothing between them."""
    server = start_server(make_application(socket_messages_per_10s="5000", socket_frames_per_10s="100000"))
    carol = Client.open(f"{server.ws}/ws/chat/")
    clients.append(carol)
    carol.send(type="start", nickname="Carol")
    started = carol.until(type="started")
    for n in range(1100):
        carol.send(type="message", text=f"message {n}", client_id=f"m{n}")
    last = carol.until(type="message", client_id="m1099", timeout=30)["seq"]

    again = Client.open(f"{server.ws}/ws/chat/")
    clients.append(again)
    again.send(type="resume", session_id=started["session_id"], token=started["token"], last_seq=0)
    assert again.until(type="resumed")["last_seq"] == last
    again.until(type="message", client_id="m1099", timeout=30)
    seqs = [f["seq"] for f in again.frames if "seq" in f]
    assert seqs == list(range(1, last + 1))
