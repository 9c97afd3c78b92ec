"""A saved transcript as plain text and as JSON: what the API and the export command give."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from chat.frames import Event, Visibility
from chat.session import iso
from chat.visibility import for_customer

from .models import Transcript


def _iso(moment: datetime | None) -> str | None:
    return iso(moment) if moment else None


def as_json(transcript: Transcript, *, customer: bool = False) -> dict[str, Any]:
    """The transcript as staff read it, or (``customer``) as the customer was shown
    it (issue 13): no internal event, each seq the customer's own gapless count,
    and no participant the customer never saw (a supervisor who only coached)."""
    if customer:
        return _customer_view(as_json(transcript))
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


def _customer_view(data: dict[str, Any]) -> dict[str, Any]:
    events = [shown for shown in map(for_customer, data["events"]) if shown is not None]
    seen = {event.get("from") for event in events}
    return {**data, "events": events,
            "participants": [p for p in data["participants"] if p["id"] in seen or p["role"] == "customer"]}


def as_text(transcript: Transcript, *, customer: bool = False) -> str:
    """One line per event, for a person to read (and a mail to carry).

    Only this function starts a line: each event's starts with ``[seq]``, the
    header's with their names, the later lines of a message with CONTINUATION,
    and no name or text carries a line break or another control character
    through (see one_line), so nothing a participant typed reads as another
    event, another participant or the header (issue 9)."""
    data = as_json(transcript, customer=customer)
    nicknames = {p["id"]: p["nickname"] for p in data["participants"]}
    ended = f"Ended: {data['ended_at'] or 'not yet'}" + (f" ({data['end_reason']})" if data["end_reason"] else "")
    lines = [
        f"Chat {data['session_id']} ({data['pair']})",
        f"Subject: {data['subject'] or '-'}",
        "Participants: " + ", ".join(f"{p['nickname']} ({p['role']})" for p in data["participants"]),
        f"Started: {data['started_at']}",
        ended,
    ]
    lines = [one_line(line) for line in lines]
    lines.append("")
    for event in data["events"]:
        lines.append(f"[{event['seq']}] {one_line(str(event['at']))} {_visibility(event)}{_line(event, nicknames)}")
    return "\n".join(lines) + "\n"


# What no line of the text export shows as is: the C0 and C1 controls (a line
# break would start a line of the sender's choosing; ESC rewrites the terminal
# the export is read in), the Unicode line and paragraph separators, and the
# bidirectional controls (they reorder what a reader sees). C0 and DEL show as
# their Unicode control pictures (a newline as "␊"), the others as U+FFFD.
# A tab stays: it cannot start a line here.
_CONTROLS = {code: 0x2400 + code for code in range(0x20) if code != 0x09}
_CONTROLS[0x7F] = 0x2421
_CONTROLS.update(dict.fromkeys(
    [*range(0x80, 0xA0), 0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)],
    0xFFFD,
))

# How the second and later lines of a message start: never as an event's "[".
CONTINUATION = "    "


def one_line(text: str) -> str:
    """``text`` with no line break or other control character: see _CONTROLS."""
    return text.translate(_CONTROLS)


def _message_text(text: str) -> str:
    """A message of several lines: the first after its sender, each later one
    indented by CONTINUATION (every line break of str.splitlines counts)."""
    first, *rest = text.splitlines() or [""]
    return "\n".join([one_line(first), *(CONTINUATION + one_line(line) for line in rest)])


def _visibility(event: dict[str, Any]) -> str:
    """What marks an event the customer was never shown (issue 13): staff read this export."""
    return "(internal) " if event.get("visibility") == Visibility.INTERNAL else ""


def _line(event: dict[str, Any], nicknames: dict[str, str]) -> str:
    who = nicknames.get(event.get("from", ""), event.get("nickname", "?"))
    kind = event["type"]
    if kind == Event.MESSAGE:
        return f"{one_line(who)}: {_message_text(str(event['text']))}"
    if kind == Event.NOTICE:
        details = ", ".join(f"{k}={v}" for k, v in event.items() if k not in {"seq", "at", "type", "notice"})
        line = f"* notice {event['notice']}" + (f" ({details})" if details else "")
    elif kind == Event.CLOSED:
        line = f"* closed ({event['reason']})"
    elif kind == Event.TRANSFERRED:
        line = f"* {who} transferred the chat to {event.get('to', {}).get('nickname', '?')}"
    else:
        line = f"* {who} {kind}"
    return one_line(line)
