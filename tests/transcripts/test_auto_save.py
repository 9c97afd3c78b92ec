"""transcript-auto-save decides when a save happens; the worker writes it all, in order."""
import time

import pytest

from ..harness import http_get, new_client_id
from .conftest import saved, wait_saved


def say(client, text: str, session_id: str | None = None) -> dict:
    """Send a message and wait for its own copy: the event as stored."""
    client.send(type="message", session_id=session_id, text=text, client_id=new_client_id())
    return client.until(type="message", text=text)


@pytest.mark.options(transcript_auto_save="0")
def test_with_0_the_transcript_is_saved_when_the_session_ends_and_not_before(worker, chat):
    carol, alice, session_id = chat()
    say(carol, "hello")
    say(alice, "hi Carol", session_id)
    time.sleep(1)  # a save after each message would have come by now
    assert saved(session_id) is None

    carol.send(type="leave")
    closed = alice.until(type="closed", session_id=session_id)
    transcript = wait_saved(session_id, upto=closed["seq"], ended=True)
    assert transcript.end_reason == "customer-left"
    assert [e.seq for e in transcript.events.all()] == list(range(1, closed["seq"] + 1))
    assert [e.data["text"] for e in transcript.events.filter(type="message")] == ["hello", "hi Carol"]
    assert {(p.nickname, p.role) for p in transcript.participants.all()} == {("Carol", "customer"), ("Alice", "agent")}
    assert transcript.subject == "a refund"


@pytest.mark.options(transcript_auto_save="1")
def test_with_1_each_message_is_saved_soon_after_it_is_sent(worker, chat):
    carol, _alice, session_id = chat()
    for text in ("one", "two", "three"):
        event = say(carol, text)
        transcript = wait_saved(session_id, upto=event["seq"], timeout=5)
        assert transcript.ended_at is None
    assert not [f for f in carol.frames if f.get("type") == "notice" and f["notice"].startswith("ucs")]


@pytest.mark.options(transcript_auto_save="2")
def test_with_2_every_participant_is_told_of_each_save(worker, chat, server):
    carol, alice, session_id = chat()
    event = say(carol, "hello")
    for client in (carol, alice):
        notice = client.until(type="notice", notice="ucs-save")
        assert notice["saved_seq"] >= event["seq"]
        assert notice["seq"] > event["seq"]
    assert wait_saved(session_id, upto=event["seq"]).saved_seq >= event["seq"]
    # The operator counts what the participants were told (chatsite.metrics).
    assert 'chat_transcript_saves_total{outcome="saved"}' in http_get(f"{server.http}/metrics")[1].decode()


@pytest.mark.options(transcript_auto_save="1", transcript_save_on_error="close")
def test_a_nul_or_a_lone_surrogate_neither_closes_the_chat_nor_stops_its_transcript(worker, chat):
    """Issue 9's poison: refused at the socket (bad-text), so it never reaches a
    save; the chat goes on under save-on-error=close and its transcript is whole."""
    carol, alice, session_id = chat()
    carol.send_raw('{"type": "message", "text": "a\\u0000b", "client_id": "poison-1"}')
    assert carol.until(type="error")["code"] == "bad-text"
    carol.send_raw('{"type": "message", "text": "lone \\udfff", "client_id": "poison-2"}')
    assert carol.until(type="error")["code"] == "bad-text"
    after = say(carol, "after the poison")
    assert wait_saved(session_id, upto=after["seq"]).ended_at is None

    carol.send(type="leave")
    closed = alice.until(type="closed", session_id=session_id)
    assert closed["reason"] == "customer-left"
    transcript = wait_saved(session_id, upto=closed["seq"], ended=True)
    assert [e.seq for e in transcript.events.all()] == list(range(1, closed["seq"] + 1))
    assert [e.data["text"] for e in transcript.events.filter(type="message")] == ["after the poison"]
