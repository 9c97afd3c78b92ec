"""Transcripts that are never lost (issue 10): the final save survives a primary
killed before it handed the save to the broker, a worker killed in the middle of
it, a broker that refused it, and a takeover that closes the chats itself."""
from __future__ import annotations

import json
import signal
import time

import pytest

from transcripts.models import Event

from ..harness import Participant, wait_for
from .conftest import saved, wait_saved
from .test_auto_save import say


def start_pair(make_application, start_server, primary_env: dict[str, str], **options: str):
    """A primary (with ``primary_env``) and its backup, the primary serving."""
    name = f"pair-{time.monotonic_ns() % 10**8}"
    primary = start_server(make_application(f"{name}-a", pair=name, role="primary", **options), **primary_env)
    backup = start_server(make_application(f"{name}-b", pair=name, role="backup", **options), serving=False)
    return primary, backup


def open_chat(primary, backup, agent_cookie) -> tuple[Participant, Participant, str]:
    """Carol chatting with alice through the pair, each able to fail over."""
    servers = [primary.ws, backup.ws]
    alice = Participant(servers, "/ws/agent/", cookie=agent_cookie("alice"))
    alice.connect()
    alice.send(type="ready")
    carol = Participant(servers, "/ws/chat/")
    carol.connect()
    carol.send(type="start", nickname="Carol")
    session_id = carol.until(type="started")["session_id"]
    alice.until(type="assigned")
    alice.until(type="joined", role="agent")
    carol.say("my parcel is late")
    carol.drain_until_acked()
    alice.say("let me look", session_id)
    alice.drain_until_acked()
    return carol, alice, session_id


def assert_whole(transcript, upto: int, reason: str) -> None:
    """Every event up to ``upto`` once, in order, ending as ``reason`` says."""
    assert [e.seq for e in transcript.events.all()] == list(range(1, upto + 1))
    assert Event.objects.filter(transcript=transcript).count() == upto
    assert transcript.events.last().type == "closed" and transcript.end_reason == reason


@pytest.mark.parametrize("hand_off", ["made", "never-made"])
def test_a_primary_killed_right_after_the_customer_left_still_saves_the_whole_transcript(
        hand_off, make_application, start_server, agent_cookie, worker, clients):
    """With ``never-made`` the primary's hand-off to the broker never happens (a test
    hook holds it), as when the kill comes between storing ``closed`` and handing
    the save: the backup's sweeper hands it as it starts to serve."""
    env = {"CHAT_TEST_HOOKS": "1", "TRANSCRIPT_TEST_HANDOFF": "hold"} if hand_off == "never-made" else {}
    primary, backup = start_pair(make_application, start_server, env, transcript_auto_save="0",
                                 session_restoration_mode="simple")
    carol, alice, session_id = open_chat(primary, backup, agent_cookie)
    carol.send(type="leave")
    closed = alice.until(type="closed", session_id=session_id)
    primary.kill(signal.SIGKILL)
    backup.wait_serving()

    transcript = wait_saved(session_id, upto=closed["seq"], ended=True, timeout=15)
    assert_whole(transcript, closed["seq"], "customer-left")
    assert [e.data["text"] for e in transcript.events.filter(type="message")] == ["my parcel is late", "let me look"]
    if hand_off == "never-made":
        assert "owed transcript saves to the broker again" in backup.log()
    carol.close()
    alice.close()


def test_chats_that_a_takeover_closes_under_restoration_none_still_get_their_transcript(
        make_application, start_server, agent_cookie, worker):
    primary, backup = start_pair(make_application, start_server, {}, transcript_auto_save="0",
                                 session_restoration_mode="none")
    carol, alice, session_id = open_chat(primary, backup, agent_cookie)
    last_seen = max(carol.last_seq(session_id), alice.last_seq(session_id))
    primary.kill(signal.SIGKILL)
    backup.wait_serving()

    transcript = wait_saved(session_id, upto=last_seen + 1, ended=True, timeout=15)
    assert_whole(transcript, last_seen + 1, "not-restored")
    carol.close()
    alice.close()


@pytest.mark.options(transcript_auto_save="0", transcript_resend_attempts="0")
def test_a_worker_killed_in_the_middle_of_a_save_is_followed_by_a_whole_save_with_each_event_once(
        tmp_path, start_worker, chat):
    block = tmp_path / "blocked"
    first = start_worker(concurrency=1, TRANSCRIPT_STORE="tests.transcripts.faulty.FaultyStore",
                         FAULTY_STORE_LOG=str(tmp_path / "attempts.jsonl"), FAULTY_STORE_BLOCK=str(block))
    carol, alice, session_id = chat()
    say(carol, "hello")
    say(alice, "hi Carol", session_id)
    carol.send(type="leave")
    closed = alice.until(type="closed", session_id=session_id)
    wait_for(block.exists, 10, "the save to stop in the middle")
    assert json.loads(block.read_text())["upto"] == closed["seq"]  # written, not committed

    first.kill()
    assert saved(session_id) is None
    start_worker(concurrency=1)
    transcript = wait_saved(session_id, upto=closed["seq"], ended=True, timeout=30)
    assert_whole(transcript, closed["seq"], "customer-left")
    assert [e.data["text"] for e in transcript.events.filter(type="message")] == ["hello", "hi Carol"]


@pytest.mark.options(transcript_auto_save="0", transcript_resend_attempts="0")
@pytest.mark.server_env(CHAT_TEST_HOOKS="1", TRANSCRIPT_TEST_HANDOFF="refuse:1")
def test_a_final_save_that_the_broker_refused_is_handed_again_and_completed(worker, chat, server):
    carol, alice, session_id = chat()
    say(carol, "hello")
    carol.send(type="leave")
    closed = alice.until(type="closed", session_id=session_id)

    transcript = wait_saved(session_id, upto=closed["seq"], ended=True, timeout=30)
    assert_whole(transcript, closed["seq"], "customer-left")
    log = server.log()
    assert "could not hand a transcript save to the broker" in log
    assert f"{session_id} (up to seq {closed['seq']}" in log  # the sweeper's hand-off
