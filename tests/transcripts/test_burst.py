"""Saves coalesce: a burst of messages is saved completely, in order, in a few saves.

Writes what it measures (saves per 100 messages, the delay from a message to
its save) to test-artifacts/transcripts-metrics.json.
"""
import json
import statistics
import time

import pytest

from ..harness import ARTIFACTS, new_client_id
from .conftest import wait_saved

MESSAGES = 200


def delays_ms(transcript) -> list[float]:
    return [
        (event.saved_at - event.at).total_seconds() * 1000
        for event in transcript.events.filter(type="message")
    ]


def record(name: str, transcript, messages: int) -> dict:
    delays = sorted(delays_ms(transcript))
    result = {
        "messages": messages,
        "saves": transcript.saves,
        "saves_per_100_messages": round(100 * transcript.saves / messages, 1),
        "message_to_save_ms": {
            "median": round(statistics.median(delays), 1),
            "p95": round(delays[int(0.95 * (len(delays) - 1))], 1),
            "max": round(delays[-1], 1),
        },
    }
    path = ARTIFACTS / "transcripts-metrics.json"
    metrics = json.loads(path.read_text()) if path.exists() else {}
    metrics[name] = result
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2) + "\n")
    print(name, result)
    return result


@pytest.mark.options(transcript_auto_save="1")
def test_a_burst_of_200_messages_is_saved_completely_in_order_in_far_fewer_saves(worker, chat):
    carol, alice, session_id = chat()
    for n in range(MESSAGES):
        carol.send(type="message", text=f"m{n}", client_id=new_client_id())
    last = carol.until(type="message", text=f"m{MESSAGES - 1}", timeout=20)
    alice.until(type="message", text=f"m{MESSAGES - 1}")  # read, so that her socket closes at once

    transcript = wait_saved(session_id, upto=last["seq"], timeout=20)
    events = list(transcript.events.all())
    assert [e.seq for e in events] == list(range(1, last["seq"] + 1))
    assert [e.data["text"] for e in events if e.type == "message"] == [f"m{n}" for n in range(MESSAGES)]
    result = record("burst of 200 messages, auto-save 1", transcript, MESSAGES)
    assert result["saves_per_100_messages"] <= 25


@pytest.mark.options(transcript_auto_save="1")
def test_at_a_conversational_pace_each_message_is_saved_within_a_second(worker, chat):
    carol, alice, session_id = chat()
    for n in range(20):
        carol.send(type="message", text=f"m{n}", client_id=new_client_id())
        last = carol.until(type="message", text=f"m{n}")
        alice.until(type="message", text=f"m{n}")
        time.sleep(0.1)
    transcript = wait_saved(session_id, upto=last["seq"])
    result = record("20 messages 100 ms apart, auto-save 1", transcript, 20)
    assert result["message_to_save_ms"]["max"] < 1000
