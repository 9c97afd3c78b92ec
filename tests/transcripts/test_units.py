"""The plain parts, without processes: the policy, the coalescer, the store's idempotency."""
from datetime import UTC, datetime

import pytest
from celery.exceptions import Retry
from django.core.exceptions import ValidationError

from ha.models import Application, Option
from ha.options import Settings
from transcripts import policy, saving
from transcripts.live import Coalescer
from transcripts.models import Transcript
from transcripts.saving import batch
from transcripts.store import DatabaseStore, Unavailable
from transcripts.tasks import save_transcript

FACTS = {
    "pair": "p", "subject": "s", "started_at": "2026-01-01T10:00:00.000Z",
    "customer": '{"id": "c1", "role": "customer", "nickname": "Carol"}',
}


def event(seq: int, type_: str, **fields) -> dict:
    return {"type": type_, "session_id": "s1", "at": f"2026-01-01T10:00:{seq:02d}.000Z", "seq": seq, **fields}


EVENTS = [
    event(1, "joined", **{"from": "c1", "role": "customer", "nickname": "Carol"}),
    event(2, "notice", notice="queued", position=1),
    event(3, "joined", **{"from": "agent-1", "role": "agent", "nickname": "Alice"}),
    event(4, "message", **{"from": "c1", "role": "customer", "nickname": "Carol"}, text="hi", client_id="x"),
    event(5, "closed", reason="customer-left"),
]


def test_the_defaults_save_at_the_end_keep_major_notices_and_carry_on_after_an_error():
    rules = policy.SavePolicy.of(Settings())
    assert (rules.auto_save, rules.notices, rules.close_on_error) == (0, "major", False)
    assert not rules.saves_after(EVENTS[3])
    assert rules.saves_after(EVENTS[4])
    assert not rules.saves_after(event(6, "closed", reason="transcript-save-error"))


def test_auto_save_1_and_2_save_after_messages_only_and_2_tells_participants():
    for value, tells in (("1", False), ("2", True)):
        rules = policy.SavePolicy.of(Settings({"transcript-auto-save": value}))
        assert [rules.saves_after(e) for e in EVENTS] == [False, False, False, True, True]
        assert rules.tells_participants is tells


def test_a_burst_while_a_save_is_in_flight_asks_for_one_more_save():
    saves = Coalescer()
    assert saves.want("s1", now=0, lost_after=10)
    assert not saves.want("s1", now=1, lost_after=10)
    assert not saves.want("s1", now=2, lost_after=10)
    assert saves.done("s1", now=3)  # one more for the two messages that waited
    assert not saves.done("s1", now=4)
    assert saves.want("s1", now=5, lost_after=10)


def test_a_save_that_never_reports_back_stops_holding_others_back():
    saves = Coalescer()
    assert saves.want("s1", now=0, lost_after=10)
    assert saves.want("s1", now=11, lost_after=10)


def test_a_batch_names_every_participant_and_how_the_chat_ended():
    made = batch("s1", FACTS, EVENTS, 0, "none")
    assert [p["nickname"] for p in made.participants] == ["Carol", "Alice"]
    assert [e["seq"] for e in made.events] == [4, 5]
    assert (made.upto, made.end_reason) == (5, "customer-left")
    assert made.ended_at == datetime(2026, 1, 1, 10, 0, 5, tzinfo=UTC)


@pytest.mark.django_db
def test_a_save_that_runs_twice_writes_each_event_once():
    store = DatabaseStore()
    assert store.write(batch("s1", FACTS, EVENTS[:3], 0, "all")) == 3
    assert store.write(batch("s1", FACTS, EVENTS[:3], 0, "all")) == 3
    assert store.write(batch("s1", FACTS, EVENTS, 0, "all")) == 5  # overlaps what is saved
    transcript = Transcript.objects.get(session_id="s1")
    assert [e.seq for e in transcript.events.all()] == [1, 2, 3, 4, 5]
    assert transcript.participants.count() == 2
    assert (transcript.saves, store.saved_seq("s1")) == (2, 5)


@pytest.mark.django_db
def test_a_nul_or_a_lone_surrogate_in_a_live_log_does_not_make_the_transcript_unsavable():
    """The second line of defence (the socket refuses both): PostgreSQL keeps
    neither, so they are saved as U+FFFD and the save goes through."""
    poisoned = [
        event(1, "joined", **{"from": "c1", "role": "customer", "nickname": "Ca\udfffrol"}),
        event(2, "message", **{"from": "c1", "role": "customer", "nickname": "Ca\udfffrol"}, text="a\u0000b",
              client_id="x"),
    ]
    facts = {**FACTS, "subject": "s\u0000", "customer": '{"id": "c1", "role": "customer", "nickname": "Ca\\udfffrol"}'}
    assert DatabaseStore().write(batch("s1", facts, poisoned, 0, "all")) == 2
    transcript = Transcript.objects.get(session_id="s1")
    assert transcript.events.get(seq=2).data["text"] == "a\ufffdb"
    assert transcript.participants.get().nickname == "Ca\ufffdrol"


@pytest.mark.django_db
@pytest.mark.parametrize("name, value", [
    ("transcript-auto-save", "3"), ("transcript-save-on-error", "stop"),
    ("transcript-resend-attempts", "-1"), ("transcript-resend-delay", "0"),
    ("transcript-save-notices", "some"),
])
def test_a_bad_transcript_option_value_is_refused_with_the_allowed_ones(name, value):
    application = Application.objects.create(name="a", pair="p", port=1)
    with pytest.raises(ValidationError) as refused:
        Option(application=application, name=name, value=value).full_clean()
    assert name in str(refused.value) and "allowed values" in str(refused.value)


def test_a_save_the_store_could_not_take_is_tried_again_after_the_resend_delay_as_often_as_allowed(monkeypatch):
    """transcript-resend-delay and transcript-resend-attempts reach Celery's retry of the
    save (its countdown and max_retries): the delay is not read off a clock here."""
    def refused(session_id: str, pair: str, notices: str) -> int:
        raise Unavailable("the database did not answer")

    asked: dict = {}

    def retry(**options):
        asked.update(options)
        return Retry()

    monkeypatch.setattr(saving, "save", refused)
    monkeypatch.setattr(save_transcript, "retry", retry)
    rules = policy.SavePolicy.of(Settings({"transcript-resend-delay": "7", "transcript-resend-attempts": "4"}))
    with pytest.raises(Retry):
        save_transcript.run("s1", "p", **rules.task_options())
    assert (asked["countdown"], asked["max_retries"]) == (7, 4)
    assert isinstance(asked["exc"], Unavailable)
