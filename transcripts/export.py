"""A saved transcript as plain text and as JSON: what the API and the export command give."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from chat.frames import Event
from chat.session import iso

from .models import Transcript


def _iso(moment: datetime | None) -> str | None:
    return iso(moment) if moment else None


def as_json(transcript: Transcript) -> dict[str, Any]:
    return {
        "session_id": transcript.session_id,
        "pair": transcript.pair,
        "subject": transcript.subject,
        "started_at": _iso(transcript.started_at),
        "ended_at": _iso(transcript.ended_at),
        "end_reason": transcript.end_reason or None,
        "participants": [
            {"id": p.participant_id, "role": p.role, "nickname": p.nickname}
            for p in transcript.participants.all()
        ],
        "events": [event.as_dict() for event in transcript.events.all()],
    }


def as_text(transcript: Transcript) -> str:
    """One line per event, for a person to read (and a mail to carry)."""
    data = as_json(transcript)
    nicknames = {p["id"]: p["nickname"] for p in data["participants"]}
    lines = [
        f"Chat {data['session_id']} ({data['pair']})",
        f"Subject: {data['subject'] or '-'}",
        "Participants: " + ", ".join(f"{p['nickname']} ({p['role']})" for p in data["participants"]),
        f"Started: {data['started_at']}",
        f"Ended: {data['ended_at'] or 'not yet'}" + (f" ({data['end_reason']})" if data["end_reason"] else ""),
        "",
    ]
    for event in data["events"]:
        lines.append(f"[{event['seq']}] {event['at']} {_line(event, nicknames)}")
    return "\n".join(lines) + "\n"


def _line(event: dict[str, Any], nicknames: dict[str, str]) -> str:
    who = nicknames.get(event.get("from", ""), event.get("nickname", "?"))
    kind = event["type"]
    if kind == Event.MESSAGE:
        return f"{who}: {event['text']}"
    if kind == Event.NOTICE:
        details = ", ".join(f"{k}={v}" for k, v in event.items() if k not in {"seq", "at", "type", "notice"})
        return f"* notice {event['notice']}" + (f" ({details})" if details else "")
    if kind == Event.CLOSED:
        return f"* closed ({event['reason']})"
    return f"* {who} {kind}"
