"""Bad input gets an error frame with a code, changes nothing, and the
connection stays usable; nobody reaches a session that is not theirs."""
import json

import pytest
from websockets.exceptions import InvalidStatus

from .conftest import log_length
from .harness import Client, new_client_id


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json {", "bad-json"),
        (b"\x00\x01binary", "bad-json"),
        ('["a", "list"]', "bad-frame"),
        ('{"no": "type"}', "bad-frame"),
        ('{"type": "teleport"}', "unknown-type"),
        ('{"type": "message"}', "missing-field"),
        ('{"type": "message", "text": 42}', "bad-frame"),
        ('{"type": "typing"}', "missing-field"),
        ('{"type": "start", "nickname": "again"}', "already-started"),
        # What an attacker sends (issue 9): each once made a ghost or poisoned a chat.
        ("[" * 100_000, "bad-json"),
        (json.dumps({"type": "message", "text": "a\u0000b", "client_id": "x1"}), "bad-text"),
        ('{"type": "message", "text": "lone \\udfff", "client_id": "x2"}', "bad-text"),
        ('{"type": "message", "text": "hi", "client_id": "\\ud800"}', "bad-text"),
        (json.dumps({"type": "message", "text": "hi", "client_id": "c" * 65}), "too-long"),
        (json.dumps({"type": "message", "text": "bell\u0007", "client_id": "x3"}), "bad-text"),
        (json.dumps({"type": "resume", "session_id": "\udfff", "token": "t", "last_seq": 0}), "bad-text"),
        (json.dumps({"type": "resume", "session_id": "s", "token": "t", "last_seq": 2**70}), "out-of-range"),
        (json.dumps({"type": "resume", "session_id": "s", "token": "t", "last_seq": -1}), "out-of-range"),
        (json.dumps({"type": "typing", "state": "yes"}), "bad-frame"),
        (json.dumps({"type": "message", "text": ["a"], "client_id": "x4"}), "bad-frame"),
        # Visibility (issue 13): a customer writes to everyone only, and cannot supervise.
        (json.dumps({"type": "message", "text": "psst", "client_id": "x5", "visibility": "internal"}), "bad-frame"),
        (json.dumps({"type": "message", "text": "psst", "client_id": "x6", "visibility": "INTERNAL"}), "bad-frame"),
        (json.dumps({"type": "message", "text": "psst", "client_id": "x7", "visibility": 0}), "bad-frame"),
        (json.dumps({"type": "message", "text": "psst", "client_id": "x8", "visibility": "i" * 100_000}),
         "bad-frame"),
        (json.dumps({"type": "monitor", "session_id": "s"}), "unknown-type"),
        (json.dumps({"type": "barge-in", "session_id": "s"}), "unknown-type"),
    ],
)
def test_a_bad_customer_frame_is_answered_with_an_error_and_changes_nothing(chat, redis_client, raw, code):
    carol, alice = chat
    session_id = carol.started["session_id"]
    before = log_length(redis_client, session_id)

    carol.send_raw(raw)
    error = carol.until(type="error")
    assert error["code"] == code and error["message"]
    assert log_length(redis_client, session_id) == before

    carol.send(type="message", text="still here", client_id=new_client_id())
    assert alice.until(type="message", text="still here")["seq"] == before + 1


def test_a_message_over_the_length_limit_is_refused(chat, redis_client):
    carol, alice = chat
    before = log_length(redis_client, carol.started["session_id"])
    carol.send(type="message", text="x" * 4097, client_id=new_client_id())
    error = carol.until(type="error")
    assert error["code"] == "too-long" and "4096" in error["message"]
    assert log_length(redis_client, carol.started["session_id"]) == before
    carol.send(type="message", text="x" * 4096, client_id=new_client_id())
    assert len(alice.until(type="message")["text"]) == 4096


def test_a_bad_agent_frame_is_answered_with_an_error(chat):
    carol, alice = chat
    alice.send(type="message", text="which chat?", client_id=new_client_id())
    assert alice.until(type="error")["code"] == "missing-field"
    alice.send(type="resume", sessions={carol.started["session_id"]: "x"})
    assert alice.until(type="error")["code"] == "bad-frame"
    # Visibility (issue 13): only "all" or "internal", as a string.
    session_id = carol.started["session_id"]
    for visibility in ("secret", ["internal"], {"internal": True}, "internal\u202e", "\udfff"):
        alice.send(type="message", session_id=session_id, text="hi", client_id=new_client_id(),
                   visibility=visibility)
        assert alice.until(type="error")["code"] in ("bad-frame", "bad-text"), visibility
    alice.send(type="monitor", session_id=session_id)
    assert alice.until(type="error")["code"] == "unknown-type"


def test_a_customer_cannot_touch_another_customers_session(chat, customer, redis_client):
    carol, _ = chat
    mallory = customer("Mallory")
    target = carol.started["session_id"]
    before = log_length(redis_client, target)

    for frame in (
        {"type": "message", "session_id": target, "text": "hi", "client_id": new_client_id()},
        {"type": "typing", "session_id": target, "state": True},
        {"type": "leave", "session_id": target},
    ):
        mallory.send(**frame)
        assert mallory.until(type="error")["code"] == "not-yours"
    assert log_length(redis_client, target) == before
    assert [f for f in carol.quiet() if f.get("from") == mallory.started["participant_id"]] == []


def test_resume_with_a_wrong_token_gets_an_error_and_no_data(chat, server, clients, redis_client):
    carol, _ = chat
    intruder = Client.open(f"{server.ws}/ws/chat/")
    clients.append(intruder)
    intruder.send(type="resume", session_id=carol.started["session_id"], token="guess", last_seq=0)
    error = intruder.until(type="error")
    assert error["code"] == "bad-token"
    assert intruder.quiet() == []
    assert all("seq" not in frame for frame in intruder.frames)
    intruder.send(type="resume", session_id="no-such-session", token="guess", last_seq=0)
    assert intruder.until(type="error")["code"] == "bad-token"


def test_an_agent_cannot_write_to_a_chat_it_does_not_hold(chat, agent, redis_client):
    carol, _ = chat
    bob = agent("bob")
    target = carol.started["session_id"]
    before = log_length(redis_client, target)
    bob.send(type="message", session_id=target, text="hijack", client_id=new_client_id())
    assert bob.until(type="error")["code"] == "not-yours"
    bob.send(type="resume", sessions={target: 0})
    refused = bob.until(type="error")
    assert (refused["code"], refused["session_id"]) == ("not-yours", target)
    assert all("seq" not in frame for frame in bob.frames)
    assert log_length(redis_client, target) == before


def test_the_agent_socket_is_refused_without_a_login(server):
    with pytest.raises(InvalidStatus) as refused:
        Client.open(f"{server.ws}/ws/agent/")
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        Client.open(f"{server.ws}/ws/agent/", cookie="forged-session-id")


def test_the_agent_page_needs_a_login(server):
    from .harness import http_get

    status, _ = http_get(f"{server.http}/agent/")
    # urllib follows the redirect to the login page.
    assert status == 200
    from urllib.request import urlopen

    with urlopen(f"{server.http}/agent/") as response:
        assert "/accounts/login/" in response.url


def test_a_socket_from_a_foreign_origin_is_refused(server, agent_cookie):
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus):
        connect(f"{server.ws}/ws/chat/", origin="http://evil.example")
    with pytest.raises(InvalidStatus):  # a page elsewhere riding on an agent's cookie
        connect(f"{server.ws}/ws/agent/", origin="http://evil.example",
                additional_headers={"Cookie": f"sessionid={agent_cookie('alice')}"})


def test_a_client_that_is_not_a_browser_needs_no_origin(server):
    from websockets.sync.client import connect

    with connect(f"{server.ws}/ws/chat/", origin=None) as ws:
        ws.send(json.dumps({"type": "start", "nickname": "Bot"}))
        assert json.loads(ws.recv(timeout=5))["type"] == "started"


def test_json_frames_keep_their_shape(chat):
    carol, alice = chat
    carol.send(type="message", text="ünïcödé ✓ \"quotes\" </script>", client_id="c-1")
    got = alice.until(type="message")
    assert got["text"] == "ünïcödé ✓ \"quotes\" </script>" and got["client_id"] == "c-1"
    assert json.loads(json.dumps(got)) == got
