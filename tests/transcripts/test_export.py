"""A saved transcript is exported as text and JSON: over HTTP to staff, and by a command."""
import io
import json

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client as HttpClient
from django.utils import timezone

from transcripts import export
from transcripts.models import Transcript

from .conftest import wait_saved
from .test_auto_save import say


@pytest.fixture
def ended_chat(worker, chat) -> str:
    carol, alice, session_id = chat()
    say(carol, "my parcel is late")
    say(alice, "let me look", session_id)
    alice.send(type="close", session_id=session_id)
    closed = carol.until(type="closed")
    wait_saved(session_id, upto=closed["seq"], ended=True)
    return session_id


def staff() -> HttpClient:
    http = HttpClient()
    http.force_login(User.objects.create_user("sam", is_staff=True))
    return http


def test_staff_get_the_transcript_as_json(ended_chat):
    answer = staff().get(f"/api/transcripts/{ended_chat}.json")
    assert answer.status_code == 200
    data = answer.json()
    assert data["session_id"] == ended_chat
    assert data["end_reason"] == "agent-closed"
    assert data["started_at"] < data["ended_at"]
    assert [(p["nickname"], p["role"]) for p in data["participants"]] == [("Carol", "customer"), ("Alice", "agent")]
    assert [e["seq"] for e in data["events"]] == list(range(1, len(data["events"]) + 1))
    assert [e["text"] for e in data["events"] if e["type"] == "message"] == ["my parcel is late", "let me look"]
    assert data["events"][-1] == {**data["events"][-1], "type": "closed", "reason": "agent-closed"}


def test_staff_get_the_transcript_as_text(ended_chat):
    answer = staff().get(f"/api/transcripts/{ended_chat}.txt")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain")
    text = answer.content.decode()
    assert "Participants: Carol (customer), Alice (agent)" in text
    assert "Carol: my parcel is late" in text
    assert text.index("Carol: my parcel is late") < text.index("Alice: let me look")
    assert text.rstrip().endswith("* closed (agent-closed)")


def test_a_command_exports_the_same_json(ended_chat):
    out = io.StringIO()
    call_command("export_transcript", ended_chat, "--format", "json", stdout=out)
    assert json.loads(out.getvalue()) == staff().get(f"/api/transcripts/{ended_chat}.json").json()


def test_only_staff_get_a_transcript(ended_chat):
    assert HttpClient().get(f"/api/transcripts/{ended_chat}.json").status_code == 403
    agent = HttpClient()
    agent.force_login(User.objects.create_user("bob"))
    assert agent.get(f"/api/transcripts/{ended_chat}.txt").status_code == 403
    assert staff().get("/api/transcripts/no-such-chat.json").status_code == 404


FORGED = "hi\nAgent Bob: give me your card\n[99] 2030-01-01T00:00:00Z Alice: pay here\nParticipants: x"


def event_lines(text: str) -> list[str]:
    """The lines after the header's blank line."""
    return text.split("\n\n", 1)[1].splitlines()


def test_a_message_of_several_lines_cannot_forge_a_line_of_the_text_export(worker, chat):
    """Whatever lines a customer types, each line of the export that starts at
    its left edge is the header or an event the server stored."""
    carol, alice, session_id = chat()
    forged = say(carol, FORGED)
    say(alice, "let me look", session_id)
    alice.send(type="close", session_id=session_id)
    closed = carol.until(type="closed")
    wait_saved(session_id, upto=closed["seq"], ended=True)

    text = staff().get(f"/api/transcripts/{session_id}.txt").content.decode()
    lines = text.splitlines()
    assert [line for line in lines if line.startswith("Participants:")] == [
        "Participants: Carol (customer), Alice (agent)"
    ]
    assert not [line for line in lines if line.startswith(("Agent Bob", "[99]"))]
    events = event_lines(text)
    assert sum(line.startswith("[") for line in events) == closed["seq"]
    assert all(line.startswith("[") or line.startswith(export.CONTINUATION) for line in events)
    first = next(i for i, line in enumerate(events) if line.startswith(f"[{forged['seq']}] "))
    assert events[first].endswith(" Carol: hi")
    assert events[first + 1:first + 4] == [
        "    Agent Bob: give me your card",
        "    [99] 2030-01-01T00:00:00Z Alice: pay here",
        "    Participants: x",
    ]


@pytest.mark.django_db
def test_names_and_a_subject_with_control_characters_stay_on_their_line():
    """A nickname or subject with a line break, an escape sequence or a bidi
    override shows it as a visible stand-in, on the line it belongs to."""
    transcript = Transcript.objects.create(
        session_id="s1", pair="p", subject="refund\nEnded: never", started_at=timezone.now(),
    )
    transcript.participants.create(participant_id="c", role="customer", nickname="Mallory\r\nParticipants: Bob")
    transcript.participants.create(participant_id="a", role="agent", nickname="Al\x1b[2Jice\u202e")
    transcript.events.create(seq=1, type="joined", at=timezone.now(), data={"from": "c"})
    transcript.events.create(seq=2, type="message", at=timezone.now(), data={"from": "a", "text": "a\u2028b\x85c"})

    lines = export.as_text(transcript).splitlines()
    assert lines[1] == "Subject: refund\u240aEnded: never"
    assert lines[2] == "Participants: Mallory\u240d\u240aParticipants: Bob (customer), Al\u241b[2Jice\ufffd (agent)"
    assert [line for line in lines if line.startswith(("Ended", "Participants"))] == [lines[2], lines[4]]
    assert lines[6].endswith(" * Mallory\u240d\u240aParticipants: Bob joined")
    assert lines[7].endswith(" Al\u241b[2Jice\ufffd: a") and lines[8:] == ["    b", "    c"]
