"""What a client may send, checked once at the edge: every frame becomes one of
the typed frames below, or a ChatError that names what is wrong, before any
other part of the chat sees it.

The public socket is open to anyone, so nothing a frame holds reaches the
live log, the transcript store or another client unless it is: JSON of
bounded size and depth, an object of a known type, each field of its type and
within its length or range, and every string valid Unicode (no lone
surrogates, which neither Redis nor PostgreSQL can store) with no control
characters (no NUL, which PostgreSQL's jsonb refuses; newline and tab only in
message text). docs/protocol.md lists these limits; they are facts of the
protocol, not options, except the message length (``max-message-length``).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .frames import ErrorCode, In, Visibility
from .session import ChatError

# The largest websocket message the server reads (daphne closes a socket that
# sends more, with 1009): room for the longest message text the options allow
# (MAX_MESSAGE_LENGTH characters) even written as JSON \u escapes.
MAX_FRAME_BYTES = 128 * 1024
# Field lengths, in characters.
MAX_NICKNAME = 64
MAX_SUBJECT = 200
MAX_CLIENT_ID = 64
MAX_SESSION_ID = 64
MAX_TOKEN = 128
MAX_TYPE_ECHOED = 32
# A transfer's ``to``: an agent's participant id ("agent-" and 16 hex digits), with room.
MAX_AGENT_ID = 64
# A transfer note for the next agent, in characters: a few lines, not a transcript.
MAX_NOTE = 1000
# The most sessions one agent resume may name (an agent holds a few chats).
MAX_RESUMED_SESSIONS = 100
# seq counts a session's events from 1; JSON clients (JavaScript) count exactly to 2**53.
MAX_SEQ = 2**53

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 and C1 controls and DEL; in one-line fields also the Unicode line and paragraph separators.
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True, slots=True)
class Start:
    nickname: str
    subject: str


@dataclass(frozen=True, slots=True)
class Resume:
    session_id: str
    token: str
    last_seq: int


@dataclass(frozen=True, slots=True)
class AgentResume:
    sessions: dict[str, int]


@dataclass(frozen=True, slots=True)
class Message:
    session_id: str | None
    text: str
    client_id: str


@dataclass(frozen=True, slots=True)
class Typing:
    session_id: str | None
    state: bool


@dataclass(frozen=True, slots=True)
class Leave:
    session_id: str | None
    note: str | None = None  # an agent's, for the next agent ("back to the queue")


@dataclass(frozen=True, slots=True)
class Close:
    session_id: str


@dataclass(frozen=True, slots=True)
class Ready:
    available: bool


@dataclass(frozen=True, slots=True)
class Monitor:
    session_id: str
    last_seq: int


@dataclass(frozen=True, slots=True)
class Unmonitor:
    session_id: str


@dataclass(frozen=True, slots=True)
class BargeIn:
    session_id: str


@dataclass(frozen=True, slots=True)
class StaffMessage:
    """A supervisor's message: ``internal`` (coaching, its default) or to everyone."""

    session_id: str
    text: str
    client_id: str
    visibility: Visibility


@dataclass(frozen=True, slots=True)
class Transfer:
    session_id: str
    to: str  # the agent's participant id, as ``agents`` lists it
    note: str | None


@dataclass(frozen=True, slots=True)
class ListAgents:
    """Who the agent could transfer a chat to (chat.transfers)."""


Frame = (Start | Resume | AgentResume | Message | Typing | Leave | Close | Ready
         | Monitor | Unmonitor | BargeIn | StaffMessage | Transfer | ListAgents)


def decode(text_data: str | None) -> dict[str, Any]:
    """A frame's JSON object, with a string ``type``."""
    if text_data is None:
        raise ChatError(ErrorCode.BAD_JSON, "frames are JSON text, not binary")
    if len(text_data) > MAX_FRAME_BYTES:
        raise ChatError(ErrorCode.TOO_LONG, f"a frame is at most {MAX_FRAME_BYTES} bytes")
    try:
        frame = json.loads(text_data)
    except (ValueError, RecursionError):  # RecursionError: a frame of 100,000 "["
        raise ChatError(ErrorCode.BAD_JSON, "the frame is not valid JSON") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise ChatError(ErrorCode.BAD_FRAME, "a frame is a JSON object with a string 'type'")
    return frame


def customer_frame(frame: dict[str, Any]) -> Frame:
    """The typed frame a customer sent."""
    kind = _kind(frame, CUSTOMER_FRAMES)
    if kind is In.START:
        return Start(_line(frame, "nickname", MAX_NICKNAME, name_like=True),
                     _line(frame, "subject", MAX_SUBJECT, default="", name_like=True))
    if kind is In.RESUME:
        return Resume(_line(frame, "session_id", MAX_SESSION_ID), _line(frame, "token", MAX_TOKEN),
                      _integer(frame, "last_seq", 0, MAX_SEQ, default=0))
    if kind is In.MESSAGE and _visibility(frame, default=Visibility.ALL) is not Visibility.ALL:
        raise ChatError(ErrorCode.BAD_FRAME, "a customer's messages are for everyone: 'visibility' may only be 'all'")
    return _both(kind, frame, session_required=False)


def agent_frame(frame: dict[str, Any]) -> Frame:
    """The typed frame an agent sent."""
    kind = _kind(frame, AGENT_FRAMES)
    if kind is In.READY:
        return Ready(_boolean(frame, "available", default=True))
    if kind is In.RESUME:
        return AgentResume(_sessions(frame))
    if kind is In.CLOSE:
        return Close(_line(frame, "session_id", MAX_SESSION_ID))
    if kind is In.MESSAGE and frame.get("visibility") is not None:
        # An agent's answer to its coach (internal), or an explicit 'all'.
        return StaffMessage(_line(frame, "session_id", MAX_SESSION_ID), _text(frame, "text"),
                            _line(frame, "client_id", MAX_CLIENT_ID, default=""),
                            _visibility(frame, default=Visibility.ALL))
    if kind is In.TRANSFER:
        return Transfer(_line(frame, "session_id", MAX_SESSION_ID), _line(frame, "to", MAX_AGENT_ID),
                        _note(frame))
    if kind is In.AGENTS:
        return ListAgents()
    if kind is In.LEAVE:
        return Leave(_line(frame, "session_id", MAX_SESSION_ID), _note(frame))
    return _both(kind, frame, session_required=True)


def supervisor_frame(frame: dict[str, Any]) -> Frame:
    """The typed frame a supervisor sent (chat.supervision)."""
    kind = _kind(frame, SUPERVISOR_FRAMES)
    session_id = _line(frame, "session_id", MAX_SESSION_ID)
    if kind is In.MONITOR:
        return Monitor(session_id, _integer(frame, "last_seq", 0, MAX_SEQ, default=0))
    if kind is In.UNMONITOR:
        return Unmonitor(session_id)
    if kind is In.BARGE_IN:
        return BargeIn(session_id)
    if kind is In.MESSAGE:
        return StaffMessage(session_id, _text(frame, "text"), _line(frame, "client_id", MAX_CLIENT_ID, default=""),
                            _visibility(frame, default=Visibility.INTERNAL))
    return Leave(session_id)


SUPERVISOR_FRAMES = (In.MONITOR, In.UNMONITOR, In.BARGE_IN, In.MESSAGE, In.LEAVE)
CUSTOMER_FRAMES = (In.START, In.RESUME, In.MESSAGE, In.TYPING, In.LEAVE)
AGENT_FRAMES = (In.READY, In.RESUME, In.MESSAGE, In.TYPING, In.LEAVE, In.CLOSE, In.TRANSFER, In.AGENTS)


def _both(kind: In, frame: dict[str, Any], *, session_required: bool) -> Frame:
    session_id = _line(frame, "session_id", MAX_SESSION_ID, default=... if session_required else None)
    if kind is In.MESSAGE:
        return Message(session_id, _text(frame, "text"), _line(frame, "client_id", MAX_CLIENT_ID, default=""))
    if kind is In.TYPING:
        return Typing(session_id, _boolean(frame, "state"))
    return Leave(session_id)


def _kind(frame: dict[str, Any], known: tuple[In, ...]) -> In:
    name = frame["type"]
    for kind in known:
        if name == kind:
            return kind
    shown = name[:MAX_TYPE_ECHOED] + ("..." if len(name) > MAX_TYPE_ECHOED else "")
    raise ChatError(ErrorCode.UNKNOWN_TYPE,
                    f"unknown frame type {_printable(shown)!r}; known: {', '.join(known)}")


def _present(frame: dict[str, Any], name: str, kind: str, default: Any) -> Any:
    """frame[name], or ``default`` when absent or null (``...``: the field is required)."""
    value = frame.get(name)
    if value is None:
        if default is ...:
            raise ChatError(ErrorCode.MISSING_FIELD, f"{frame['type']!r} needs {name!r} ({kind})")
        return default
    return value


def _line(frame: dict[str, Any], name: str, limit: int, *, default: Any = ..., name_like: bool = False) -> Any:
    """A one-line string field: valid Unicode, no control characters, at most ``limit``
    characters. Ids and tokens are kept as sent (a client matches its client_id
    exactly); a name or subject is trimmed, and a required one must not be blank."""
    value = _present(frame, name, "string", default)
    if value is default:
        return value
    _check_string(name, value, limit, _CONTROL_IN_LINE)
    if not name_like:
        return value
    value = value.strip()
    if not value and default is ...:
        raise ChatError(ErrorCode.BAD_FRAME, f"{name!r} must not be empty")
    return value


def _text(frame: dict[str, Any], name: str) -> str:
    """Message text: as a line, but newlines and tabs are allowed; its length is the
    session's option (``max-message-length``), checked by the session."""
    value = _present(frame, name, "string", ...)
    _check_string(name, value, MAX_FRAME_BYTES, _CONTROL_IN_TEXT)
    return value


def _note(frame: dict[str, Any]) -> str | None:
    """An agent's note for the next agent: optional, text (newlines and tabs allowed)
    of at most MAX_NOTE characters; a blank one is none."""
    value = _present(frame, "note", "string", None)
    if value is None:
        return None
    _check_string("note", value, MAX_NOTE, _CONTROL_IN_TEXT)
    return value.strip() or None


def _check_string(name: str, value: Any, limit: int, control: re.Pattern[str]) -> None:
    if not isinstance(value, str):
        raise ChatError(ErrorCode.BAD_FRAME, f"{name!r} must be a string")
    if len(value) > limit:
        raise ChatError(ErrorCode.TOO_LONG, f"{name!r} is {len(value)} characters; at most {limit} are allowed")
    if _SURROGATE.search(value):
        raise ChatError(ErrorCode.BAD_TEXT, f"{name!r} is not valid Unicode (a lone surrogate)")
    if control.search(value):
        raise ChatError(ErrorCode.BAD_TEXT, f"{name!r} holds a control character")


def _integer(frame: dict[str, Any], name: str, lowest: int, highest: int, *, default: Any = ...) -> int:
    value = _present(frame, name, "integer", default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ChatError(ErrorCode.BAD_FRAME, f"{name!r} must be an integer")
    if not lowest <= value <= highest:
        raise ChatError(ErrorCode.OUT_OF_RANGE, f"{name!r} must be from {lowest} to {highest}")
    return value


def _boolean(frame: dict[str, Any], name: str, *, default: Any = ...) -> bool:
    value = _present(frame, name, "boolean", default)
    if not isinstance(value, bool):
        raise ChatError(ErrorCode.BAD_FRAME, f"{name!r} must be true or false")
    return value


def _visibility(frame: dict[str, Any], *, default: Visibility) -> Visibility:
    value = _present(frame, "visibility", "string", default)
    if value not in tuple(Visibility):
        raise ChatError(ErrorCode.BAD_FRAME, "'visibility' must be one of: " + ", ".join(Visibility))
    return Visibility(value)


def _sessions(frame: dict[str, Any]) -> dict[str, int]:
    """An agent resume's ``sessions``: session id -> the last seq seen of it."""
    sessions = _present(frame, "sessions", "object", ...)
    if not isinstance(sessions, dict):
        raise ChatError(ErrorCode.BAD_FRAME, "'sessions' maps session ids to last seen seqs (integers)")
    if len(sessions) > MAX_RESUMED_SESSIONS:
        raise ChatError(ErrorCode.TOO_LONG, f"'sessions' names at most {MAX_RESUMED_SESSIONS} sessions")
    checked: dict[str, int] = {}
    for session_id, last_seq in sessions.items():
        _check_string("session id", session_id, MAX_SESSION_ID, _CONTROL_IN_LINE)
        checked[session_id] = _integer({"type": "resume", "last_seq": last_seq}, "last_seq", 0, MAX_SEQ)
    return checked


def checked_string(name: str, value: Any, limit: int, *, multiline: bool = False) -> str:
    """The edge's checks of a string field, for what comes in by HTTP instead of a
    frame (the offline form, transcripts.offline): valid Unicode, no control
    characters (newline and tab too with ``multiline``), at most ``limit`` characters."""
    _check_string(name, value, limit, _CONTROL_IN_TEXT if multiline else _CONTROL_IN_LINE)
    return value


def _printable(text: str) -> str:
    return _CONTROL_IN_LINE.sub("?", _SURROGATE.sub("?", text))
