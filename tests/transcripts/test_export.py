"""A saved transcript is exported as text and JSON: over HTTP to staff, and by a command."""
import io
import json

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client as HttpClient

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
