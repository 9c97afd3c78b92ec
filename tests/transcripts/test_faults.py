"""A save that fails: retried as the options say, then the chat goes on or is closed.

The worker's store (tests.transcripts.faulty.FaultyStore) fails the first
writes on purpose and logs every attempt, so each test sees how often and
when the worker tried.
"""
import time

import pytest

from ..harness import new_client_id
from .conftest import saved, wait_saved
from .faulty import attempts
from .test_auto_save import say


@pytest.mark.options(transcript_auto_save="1", transcript_resend_attempts="3", transcript_resend_delay="0.4")
def test_a_recoverable_failure_is_retried_then_saved_with_nothing_lost_or_doubled(
    faulty_store, chat
):
    log = faulty_store(fails=2, error="unavailable")
    carol, alice, session_id = chat()
    first = say(carol, "hello")
    wait_saved(session_id, upto=first["seq"], timeout=10)

    # Two writes failed, and a later one saved what they held. (Each retry comes
    # transcript-resend-delay after its failure, but with auto-save 1 every save of
    # the chat is a task of its own, and on a busy machine several run at once: a
    # retry that finds its events saved by another writes nothing, so the delay is
    # not read off the writes here.)
    tries = attempts(log)
    assert [t["failed"] for t in tries].count(True) == 2, tries
    first_failure = next(t for t in tries if t["failed"])
    assert any(not t["failed"] and t["upto"] >= first_failure["upto"] and t["at"] > first_failure["at"]
               for t in tries), tries

    say(alice, "hi Carol", session_id)
    carol.send(type="leave")
    closed = alice.until(type="closed", session_id=session_id)
    transcript = wait_saved(session_id, upto=closed["seq"], ended=True)
    assert [e.seq for e in transcript.events.all()] == list(range(1, closed["seq"] + 1))
    assert [e.data["text"] for e in transcript.events.filter(type="message")] == ["hello", "hi Carol"]


@pytest.mark.options(transcript_auto_save="2", transcript_resend_attempts="1", transcript_resend_delay="0.2")
def test_when_the_attempts_run_out_under_continue_everyone_is_told_and_the_next_save_catches_up(
    faulty_store, chat
):
    log = faulty_store(fails=2, error="unavailable")
    carol, alice, session_id = chat()
    say(carol, "hello")
    for client in (carol, alice):
        assert client.until(type="notice", notice="ucs-save-fail")["error"] == "unavailable"
    assert len(attempts(log)) == 2  # the first try and one retry
    assert saved(session_id) is None

    second = say(carol, "still there?")
    assert carol.until(type="notice", notice="ucs-save")["saved_seq"] >= second["seq"]
    transcript = saved(session_id)
    assert [e.data["text"] for e in transcript.events.filter(type="message")] == ["hello", "still there?"]


@pytest.mark.options(transcript_auto_save="1", transcript_save_on_error="close")
def test_a_refused_save_under_close_ends_the_chat_with_the_reason_and_no_final_save(faulty_store, chat):
    log = faulty_store(fails=1, error="refused")
    carol, alice, session_id = chat()
    say(carol, "hello")
    for client in (carol, alice):
        assert client.until(type="closed", session_id=session_id)["reason"] == "transcript-save-error"

    time.sleep(1)  # time enough for a final save, were one sent
    # Refused is not retried, and no final save is sent at the close (the
    # transcript stays owed: the sweeper tries again after the retries' time).
    assert len(attempts(log)) == 1
    assert saved(session_id) is None


@pytest.mark.options(transcript_auto_save="1", transcript_save_on_error="close",
                     transcript_resend_attempts="2", transcript_resend_delay="0.2")
def test_when_the_attempts_run_out_under_close_the_chat_ends(faulty_store, chat):
    log = faulty_store(fails=10, error="unavailable")
    carol, _alice, session_id = chat()
    say(carol, "hello")
    assert carol.until(type="closed", session_id=session_id)["reason"] == "transcript-save-error"
    time.sleep(0.5)  # past the retry delay: no attempt follows the close
    assert len(attempts(log)) == 3


@pytest.mark.options(transcript_auto_save="2", transcript_save_on_error="continue")
def test_a_refused_save_under_continue_lets_the_chat_go_on(faulty_store, chat):
    faulty_store(fails=1, error="refused")
    carol, alice, session_id = chat()
    say(carol, "hello")
    assert alice.until(type="notice", notice="ucs-save-fail")["error"] == "refused"

    say(alice, "I am here", session_id)
    assert alice.until(type="notice", notice="ucs-save")
    carol.send(type="message", text="good", client_id=new_client_id())
    carol.send(type="leave")
    closed = alice.until(type="closed", session_id=session_id)
    assert closed["reason"] == "customer-left"
    transcript = wait_saved(session_id, upto=closed["seq"], ended=True)
    assert [e.data["text"] for e in transcript.events.filter(type="message")] == ["hello", "I am here", "good"]
