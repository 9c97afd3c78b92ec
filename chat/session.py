"""The chat session as a plain state machine: no I/O.

Commands (``message``, ``leave``, ...) check that a participant may do a thing
and return the events to store; they change nothing. ``apply`` folds an event
that the live log has stored (and numbered) into the state. The state is thus
a function of the session's first facts and its log, which is how a new
primary rebuilds it after a failover.
"""
from __future__ import annotations

import bisect
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from . import wire
from .frames import CloseReason, ErrorCode, Event, Notice, Visibility


class ChatError(Exception):
    """A frame the server refuses; becomes an ``error`` frame, changes nothing."""

    def __init__(self, code: ErrorCode, message: str, session_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.session_id = session_id

    def frame(self) -> dict[str, str]:
        frame = {"type": "error", "code": str(self.code), "message": self.message}
        if self.session_id is not None:
            frame["session_id"] = self.session_id
        return frame


class Role(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    SUPERVISOR = "supervisor"  # monitors, coaches, barges in (chat.supervision)


# Who sees internal events (visibility INT): everyone but the customer.
STAFF = frozenset((Role.AGENT, Role.SUPERVISOR))


class Status(StrEnum):
    QUEUED = "queued"
    ACTIVE = "active"
    CLOSED = "closed"


@dataclass(frozen=True)
class Participant:
    id: str
    role: Role
    nickname: str

    @classmethod
    def agent(cls, user_pk: int, nickname: str) -> Participant:
        """The agent as customers see it: an opaque id (chat.agents), never ``agent-<pk>``."""
        from .agents import public_id  # an HMAC under SECRET_KEY: no I/O

        return cls(public_id(user_pk), Role.AGENT, nickname)

    @classmethod
    def supervisor(cls, user_pk: int, nickname: str) -> Participant:
        """The supervisor as the chat knows it: an opaque id (chat.supervisors)."""
        from .supervisors import supervisor_id  # an HMAC under SECRET_KEY: no I/O

        return cls(supervisor_id(user_pk), Role.SUPERVISOR, nickname)

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "role": str(self.role), "nickname": self.nickname}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Participant:
        return cls(data["id"], Role(data["role"]), data["nickname"])


def iso(moment: datetime) -> str:
    """An event's ``at``: UTC, milliseconds, Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(datetime.now(UTC))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_internal(event: dict[str, Any]) -> bool:
    """Whether ``event`` is for agents and supervisors only (visibility ``internal``)."""
    return event.get("visibility") == Visibility.INTERNAL


def customer_seq(event: dict[str, Any]) -> int:
    """The event's place among those the customer is shown (chat.livelog numbers
    them, ``customer_seq``); an event stored before there were internal events
    has none, and its seq is that place."""
    return event.get("customer_seq", event["seq"])


# A snapshot of the state the log folds to (``ChatSession.snapshot``) is kept with the
# session's first facts, under this name, every SNAPSHOT_EVERY events (chat.messages):
# a takeover then folds only the events after it, however long the chat. Without
# it, restoring 1,000 chats of 150 messages took 1.2 s (bench --restore-messages).
SNAPSHOT_FACT = "snapshot"
SNAPSHOT_EVERY = 8

# Notices of inactivity-control itself: never activity, or an alert would restart its own timer.
INACTIVITY_NOTICES = frozenset((Notice.INACTIVITY_ALERT, Notice.INACTIVITY_CLOSE))


@dataclass(frozen=True)
class Inactivity:
    """Genesys' inactivity-control as the options set it (chat.deadlines builds it
    from them; None when it is off). Times are seconds of quiet; 0 turns a step off."""

    alert_s: int
    close_s: int
    include_notices: bool = False

    @property
    def alerts(self) -> bool:
        """An alert that would come at or after the close is never sent."""
        return self.alert_s > 0 and (self.close_s == 0 or self.alert_s < self.close_s)


@dataclass
class ChatSession:
    id: str
    pair: str
    customer: Participant
    subject: str
    token_hash: str
    started_at: str
    status: Status = Status.QUEUED
    agent: Participant | None = None
    last_seq: int = 0
    connected: set[str] = field(default_factory=set)
    away_since: dict[str, float] = field(default_factory=dict)  # participant id -> unix time
    last_message_at: float = 0.0  # unix time of the last message, else of the start
    # inactivity-control's clock (unix times, from the log, so a takeover keeps them):
    # the last joined / left / message; the last other notice (counted only with
    # inactivity-include-notices); the last inactivity-alert, so that one alert is
    # sent per quiet spell, and not again by the primary that takes over.
    active_at: float = 0.0
    noticed_at: float = 0.0
    alerted_at: float | None = None
    # Since when (unix time) the chat waits for an agent, as its stored ``queued``
    # notice says; None while an agent has it or before that notice.
    queued_since: float | None = None
    # The agent who last left the chat to the queue, until an agent joins it: the
    # queue gives it to another agent when one has room (chat.assignment).
    left_by: str | None = None
    # Participants a switchover handed to this instance, by when (unix time): not
    # from the log, as no event marks a move; they are expected to come back.
    following: dict[str, float] = field(default_factory=dict)
    # Supervisors who barged in (a visible ``joined``), until they leave: participants
    # as the customer and agent are. One who only monitors is not one of them.
    supervisors: dict[str, Participant] = field(default_factory=dict)
    # The customer_seq of the last event the customer is shown (what its resume counts in).
    customer_last_seq: int = 0
    # The seqs of the internal events, in order (from the log): what a log seq is in the
    # customer's count. And the seqs of the events the customer is shown (save notices
    # aside) since the last save it was told of: whether a new save is news to it.
    internal_seqs: list[int] = field(default_factory=list)
    shown_unsaved: list[int] = field(default_factory=list)

    # -- creation and persistence of the first facts ------------------------

    @classmethod
    def open(cls, session_id: str, pair: str, nickname: str, subject: str) -> tuple[ChatSession, str]:
        """A new session and its customer's secret token (only its hash is kept)."""
        token = secrets.token_urlsafe(24)
        customer = Participant(secrets.token_hex(8), Role.CUSTOMER, nickname)
        session = cls(session_id, pair, customer, subject, hash_token(token), now_iso())
        return session, token

    def facts(self) -> dict[str, str]:
        """What the live log keeps besides the events (session meta hash)."""
        return {
            "pair": self.pair,
            "customer": json.dumps(self.customer.as_dict()),
            "subject": self.subject,
            "token_hash": self.token_hash,
            "started_at": self.started_at,
        }

    @classmethod
    def rebuild(cls, session_id: str, facts: dict[str, str], events: list[dict[str, Any]]) -> ChatSession:
        """The session its log folds to: from its snapshot, if the facts hold one, then
        each event after it (``events`` may be the whole log or only what follows)."""
        session = cls(
            session_id,
            facts["pair"],
            Participant.from_dict(json.loads(facts["customer"])),
            facts["subject"],
            facts["token_hash"],
            facts["started_at"],
        )
        if SNAPSHOT_FACT in facts:
            session._take_snapshot(wire.loads(facts[SNAPSHOT_FACT]))
        for event in events:
            if event["seq"] > session.last_seq:
                session.apply(event)
        return session

    def snapshot(self) -> str:
        """The state the log folds to up to ``last_seq``, as JSON (see SNAPSHOT_FACT):
        everything but the first facts and ``following`` (which no event records)."""
        return wire.text({
            "seq": self.last_seq,
            "status": str(self.status),
            "agent": self.agent.as_dict() if self.agent is not None else None,
            "connected": sorted(self.connected),
            "away_since": self.away_since,
            "last_message_at": self.last_message_at,
            "active_at": self.active_at,
            "noticed_at": self.noticed_at,
            "alerted_at": self.alerted_at,
            "queued_since": self.queued_since,
            "left_by": self.left_by,
            "supervisors": {pid: who.as_dict() for pid, who in self.supervisors.items()},
            "customer_last_seq": self.customer_last_seq,
            "internal_seqs": self.internal_seqs,
            "shown_unsaved": self.shown_unsaved,
        })

    def _take_snapshot(self, snapshot: dict[str, Any]) -> None:
        self.last_seq = snapshot["seq"]
        self.status = Status(snapshot["status"])
        self.agent = Participant.from_dict(snapshot["agent"]) if snapshot["agent"] is not None else None
        self.connected = set(snapshot["connected"])
        self.away_since = dict(snapshot["away_since"])
        self.last_message_at = snapshot["last_message_at"]
        self.active_at = snapshot["active_at"]
        self.noticed_at = snapshot["noticed_at"]
        self.alerted_at = snapshot["alerted_at"]
        self.queued_since = snapshot["queued_since"]
        self.left_by = snapshot["left_by"]
        self.supervisors = {pid: Participant.from_dict(who) for pid, who in snapshot["supervisors"].items()}
        self.customer_last_seq = snapshot["customer_last_seq"]
        self.internal_seqs = list(snapshot["internal_seqs"])
        self.shown_unsaved = list(snapshot["shown_unsaved"])

    # -- queries --------------------------------------------------------------

    def token_matches(self, token: str) -> bool:
        return hmac.compare_digest(self.token_hash, hash_token(token))

    def participant(self, participant_id: str) -> Participant | None:
        for candidate in (self.customer, self.agent):
            if candidate is not None and candidate.id == participant_id:
                return candidate
        return self.supervisors.get(participant_id)

    @property
    def is_open(self) -> bool:
        return self.status is not Status.CLOSED

    def idle(self, now: float, timeout_s: int) -> bool:
        """Whether nobody has written for ``timeout_s`` (0: never idle)."""
        return self.is_open and timeout_s > 0 and now - self.last_message_at > timeout_s

    def gone(self, now: float, timeout_s: float) -> list[Participant]:
        """Participants away for longer than ``timeout_s``: to be taken as having left."""
        return [
            who for pid, since in self.away_since.items()
            if now - since > timeout_s and (who := self.participant(pid)) is not None
        ]

    def not_followed(self, now: float, grace_s: float) -> list[Participant]:
        """Participants handed over by a switchover who have not come back within
        ``grace_s``: to be marked disconnected (then the return timeout runs)."""
        return [
            who for pid, since in self.following.items()
            if now - since > grace_s and (who := self.participant(pid)) is not None
        ]

    def queue_timed_out(self, now: float, queue_timeout_s: int) -> bool:
        """Whether the chat has waited for an agent for ``queue_timeout_s`` since its
        stored ``queued`` notice (0: no limit). A chat an agent has is never timed out."""
        return (self.status is Status.QUEUED and self.queued_since is not None and queue_timeout_s > 0
                and now - self.queued_since >= queue_timeout_s)

    def quiet_since(self, inactivity: Inactivity) -> float:
        """Since when (unix time) the chat has been quiet, as inactivity-control counts."""
        if inactivity.include_notices:
            return max(self.active_at, self.noticed_at)
        return self.active_at

    def _inactivity_steps(self, inactivity: Inactivity | None) -> list[tuple[float, Notice]]:
        """The inactivity steps still ahead in this quiet spell, with when each is due.
        Only a chat an agent has counts: one waiting in the queue is not inactive."""
        if inactivity is None or self.status is not Status.ACTIVE:
            return []
        since = self.quiet_since(inactivity)
        steps = []
        if inactivity.alerts and (self.alerted_at is None or self.alerted_at <= since):
            steps.append((since + inactivity.alert_s, Notice.INACTIVITY_ALERT))
        if inactivity.close_s > 0:
            steps.append((since + inactivity.close_s, Notice.INACTIVITY_CLOSE))
        return steps

    def inactivity_due(self, now: float, inactivity: Inactivity | None) -> Notice | None:
        """What inactivity-control must do now: alert, close, or nothing. An alert owed
        goes first even when the close is due too (a late sweep, a takeover): nobody
        is closed unwarned; the close follows at the next sweep."""
        steps = self._inactivity_steps(inactivity)
        if steps and now >= steps[0][0]:
            return steps[0][1]
        return None

    def next_deadline(self, idle_after_s: int, return_timeout_s: float, follow_grace_s: float,
                      inactivity: Inactivity | None = None, queue_timeout_s: int = 0) -> float | None:
        """When ``idle``, ``gone``, ``not_followed``, ``inactivity_due`` or
        ``queue_timed_out`` next turn true (unix time), if nothing happens meanwhile;
        None for a closed session."""
        if not self.is_open:
            return None
        moments = [since + return_timeout_s for since in self.away_since.values()]
        moments += [since + follow_grace_s for since in self.following.values()]
        if idle_after_s > 0:
            moments.append(self.last_message_at + idle_after_s)
        moments += [when for when, _ in self._inactivity_steps(inactivity)]
        if queue_timeout_s > 0 and self.status is Status.QUEUED and self.queued_since is not None:
            moments.append(self.queued_since + queue_timeout_s)
        return min(moments, default=None)

    # -- a switchover moves the participants, it does not disconnect them -----

    def handed_over(self, now: float) -> None:
        """This instance took the session over in a switchover: whoever was connected
        is on the way here, following the old primary's hint, and is not disconnected."""
        self.following = dict.fromkeys(self.connected, now)

    def arrived(self, who: Participant) -> None:
        """``who`` re-attached on this instance."""
        self.following.pop(who.id, None)

    # -- commands: check, return events to store ------------------------------

    def event(self, type_: Event, **fields: Any) -> dict[str, Any]:
        return {"type": str(type_), "session_id": self.id, "at": now_iso(), **fields}

    def _by(self, who: Participant) -> dict[str, str]:
        return {"from": who.id, "role": str(who.role), "nickname": who.nickname}

    def _check_open(self) -> None:
        if not self.is_open:
            raise ChatError(ErrorCode.SESSION_CLOSED, f"session {self.id} is closed")

    def _check_member(self, who: Participant) -> None:
        if self.participant(who.id) is None:
            raise ChatError(ErrorCode.NOT_YOURS, f"you are not a participant of session {self.id}")

    def joined(self, who: Participant, now: float | None = None) -> dict[str, Any]:
        """An agent's ``joined`` says how long the customer waited for it (``waited_s``),
        which is what the transcript keeps of the wait."""
        event = self.event(Event.JOINED, **self._by(who))
        if who.role is Role.AGENT and self.queued_since is not None and now is not None:
            event["waited_s"] = max(round(now - self.queued_since), 0)
        return event

    def queued(self, position: int, estimated_wait_s: int | None = None) -> dict[str, Any]:
        """The one stored ``queued`` notice of a wait (its start and first place, and
        the wait then estimated, chat.wait_estimate, when there was a basis); later
        places go out as ephemeral frames (``place``)."""
        estimate = {} if estimated_wait_s is None else {"estimated_wait_s": estimated_wait_s}
        return self.event(Event.NOTICE, notice=str(Notice.QUEUED), position=position, **estimate)

    def place(self, position: int, estimated_wait_s: int | None = None) -> dict[str, Any]:
        """An ephemeral frame, not an event: the customer's new place in the queue,
        with the estimated wait when there is a basis for one."""
        frame: dict[str, Any] = {"type": str(Event.NOTICE), "notice": str(Notice.QUEUED), "session_id": self.id,
                                 "position": position}
        if estimated_wait_s is not None:
            frame["estimated_wait_s"] = estimated_wait_s
        return frame

    def message(self, who: Participant, text: str, client_id: str, max_length: int) -> dict[str, Any]:
        self._check_member(who)
        self._check_open()
        if not text.strip():
            raise ChatError(ErrorCode.BAD_FRAME, "message text is empty")
        if len(text) > max_length:
            raise ChatError(
                ErrorCode.TOO_LONG,
                f"message text is {len(text)} characters; at most {max_length} are allowed",
            )
        return self.event(Event.MESSAGE, **self._by(who), text=text, client_id=client_id)

    def typing(self, who: Participant, state: bool) -> dict[str, Any]:
        """An ephemeral frame, not an event: no seq, never stored."""
        self._check_member(who)
        self._check_open()
        return {"type": "typing", "session_id": self.id, "from": who.id, "state": state}

    def leave(self, who: Participant, note: str | None = None) -> list[dict[str, Any]]:
        """A customer who leaves ends the chat; an agent who leaves hands it back to the
        queue, with ``note`` for the next agent if it wrote one ("back to the queue")."""
        self._check_member(who)
        self._check_open()
        events = [self.event(Event.LEFT, **self._by(who))]
        if who.role is Role.CUSTOMER:
            events.append(self.closing(CloseReason.CUSTOMER_LEFT))
        elif note:
            events.insert(0, self.transfer_note(who, note))
        return events

    def transfer(self, who: Participant, to: Participant, note: str | None = None) -> list[dict[str, Any]]:
        """The chat's agent hands it to agent ``to``: one ``transferred`` event (after
        the note, if any), so the log never holds a chat between two agents. Whether
        ``to`` may take it (logged in, available, room) is chat.transfers' to check."""
        self._check_member(who)
        self._check_open()
        if who.role is not Role.AGENT or self.agent is None or self.agent.id != who.id:
            raise ChatError(ErrorCode.NOT_YOURS, f"session {self.id} is not your chat to transfer")
        if to.role is not Role.AGENT:
            raise ChatError(ErrorCode.AGENT_UNAVAILABLE, "a chat is transferred to an agent")
        if to.id == who.id:
            raise ChatError(ErrorCode.AGENT_UNAVAILABLE, "the chat is yours already: pick another agent")
        events = [self.transfer_note(who, note)] if note else []
        events.append(self.event(Event.TRANSFERRED, **self._by(who), to=to.as_dict()))
        return events

    def transfer_note(self, who: Participant, text: str) -> dict[str, Any]:
        """What an agent writes for the next one: internal, never the customer's to see."""
        return self.internal(Event.NOTICE, notice=str(Notice.TRANSFER_NOTE), **self._by(who), text=text)

    def close(self, who: Participant) -> dict[str, Any]:
        self._check_member(who)
        self._check_open()
        if who.role is not Role.AGENT:
            raise ChatError(ErrorCode.BAD_FRAME, "only the agent closes a chat; a customer leaves")
        return self.closing(CloseReason.AGENT_CLOSED)

    def closing(self, reason: CloseReason) -> dict[str, Any]:
        return self.event(Event.CLOSED, reason=str(reason))

    def inactivity_alert(self, text: str) -> dict[str, Any]:
        """The warning both sides see (inactivity-message-alert)."""
        return self.event(Event.NOTICE, notice=str(Notice.INACTIVITY_ALERT), text=text)

    def inactivity_close(self, text: str) -> list[dict[str, Any]]:
        """The close text both sides see (inactivity-message-close), then the close."""
        return [self.event(Event.NOTICE, notice=str(Notice.INACTIVITY_CLOSE), text=text),
                self.closing(CloseReason.INACTIVITY)]

    def internal(self, type_: Event, **fields: Any) -> dict[str, Any]:
        """An event for agents and supervisors only. ``visibility`` is its first key:
        the live log's script tells it from its first bytes (chat.livelog)."""
        return {"visibility": str(Visibility.INTERNAL), **self.event(type_, **fields)}

    def staff_message(self, who: Participant, text: str, client_id: str, max_length: int,
                      visibility: Visibility) -> dict[str, Any]:
        """A message of an agent or a supervisor, to everyone or (``internal``) to the
        staff only: a supervisor's coaching, an agent's answer to it. A supervisor
        speaks to everyone only once it barged in; a customer never writes internal."""
        if who.role not in STAFF:
            raise ChatError(ErrorCode.BAD_FRAME, "only agents and supervisors write internal messages")
        if who.role is Role.SUPERVISOR and visibility is Visibility.ALL and who.id not in self.supervisors:
            raise ChatError(ErrorCode.NOT_JOINED, f"barge in to session {self.id} before writing to everyone; "
                            "a message with visibility 'internal' coaches the agent")
        if who.role is Role.AGENT:
            self._check_member(who)
        if visibility is Visibility.ALL:
            return self.message(who, text, client_id, max_length)
        self._check_open()
        if not text.strip():
            raise ChatError(ErrorCode.BAD_FRAME, "message text is empty")
        if len(text) > max_length:
            raise ChatError(ErrorCode.TOO_LONG,
                            f"message text is {len(text)} characters; at most {max_length} are allowed")
        return self.internal(Event.MESSAGE, **self._by(who), text=text, client_id=client_id)

    def barge_in(self, who: Participant) -> dict[str, Any]:
        """A supervisor joins the chat visibly: everyone, the customer included, sees it."""
        self._check_open()
        if who.role is not Role.SUPERVISOR:
            raise ChatError(ErrorCode.BAD_FRAME, "only a supervisor barges in")
        if who.id in self.supervisors:
            raise ChatError(ErrorCode.BAD_FRAME, f"you have joined session {self.id} already")
        return self.event(Event.JOINED, **self._by(who))

    def customer_count(self, seq: int) -> int:
        """How many of the events up to log seq ``seq`` the customer is shown."""
        return seq - bisect.bisect_right(self.internal_seqs, seq)

    def save_notice(self, saved_seq: int) -> dict[str, Any]:
        """The ``ucs-save`` notice for a save up to log seq ``saved_seq``. Once there are
        internal events, a save that brought the customer nothing new (it only covered
        coaching, or its own notices) is internal too, so a customer is never told of a
        save it cannot see, and one it is told carries ``customer_saved_seq``, the save point in its own
        count, which it is shown as ``saved_seq`` (chat.visibility)."""
        if not self.internal_seqs:
            return self.event(Event.NOTICE, notice=str(Notice.UCS_SAVE), saved_seq=saved_seq)
        if not self.shown_unsaved or self.shown_unsaved[0] > saved_seq:
            return self.internal(Event.NOTICE, notice=str(Notice.UCS_SAVE), saved_seq=saved_seq)
        return self.event(Event.NOTICE, notice=str(Notice.UCS_SAVE), saved_seq=saved_seq,
                          customer_saved_seq=self.customer_count(saved_seq))

    def disconnected(self, who: Participant) -> dict[str, Any] | None:
        """The event for a participant whose socket went away, if it was connected."""
        if not self.is_open or who.id not in self.connected:
            return None
        return self.event(Event.DISCONNECTED, **self._by(who))

    def reconnected(self, who: Participant) -> dict[str, Any] | None:
        if not self.is_open or who.id in self.connected:
            return None
        return self.event(Event.RECONNECTED, **self._by(who))

    # -- the fold -------------------------------------------------------------

    def apply(self, event: dict[str, Any]) -> None:
        """Fold a stored event into the state; events come in seq order."""
        self.last_seq = event["seq"]
        kind = event["type"]
        if is_internal(event):
            self.internal_seqs.append(event["seq"])
            return  # coaching: nobody joins, leaves or is timed by it
        self.customer_last_seq = customer_seq(event)
        if kind == Event.NOTICE and event["notice"] == Notice.UCS_SAVE:
            saved = event.get("saved_seq", 0)
            self.shown_unsaved = [seq for seq in self.shown_unsaved if seq > saved]
        else:
            self.shown_unsaved.append(event["seq"])
        if kind == Event.MESSAGE or not self.last_message_at:
            self.last_message_at = datetime.fromisoformat(event["at"]).timestamp()
        if kind in (Event.JOINED, Event.LEFT, Event.MESSAGE, Event.TRANSFERRED):
            self.active_at = datetime.fromisoformat(event["at"]).timestamp()
        elif kind == Event.NOTICE:
            if event["notice"] == Notice.INACTIVITY_ALERT:
                self.alerted_at = datetime.fromisoformat(event["at"]).timestamp()
            elif event["notice"] not in INACTIVITY_NOTICES:
                self.noticed_at = datetime.fromisoformat(event["at"]).timestamp()
        who = event.get("from")
        if kind in (Event.JOINED, Event.RECONNECTED, Event.LEFT):
            self.away_since.pop(who, None)
        if kind in (Event.RECONNECTED, Event.DISCONNECTED, Event.LEFT):
            self.following.pop(who, None)
        if kind == Event.JOINED:
            self.connected.add(who)
            if event["role"] == Role.SUPERVISOR:
                self.supervisors[who] = Participant(who, Role.SUPERVISOR, event["nickname"])
            elif event["role"] == Role.AGENT:
                self.agent = Participant(who, Role.AGENT, event["nickname"])
                self.status = Status.ACTIVE
                self.queued_since = None
                self.left_by = None
        elif kind == Event.RECONNECTED:
            self.connected.add(who)
        elif kind == Event.DISCONNECTED:
            self.connected.discard(who)
            self.away_since[who] = datetime.fromisoformat(event["at"]).timestamp()
        elif kind == Event.LEFT:
            self.connected.discard(who)
            self.supervisors.pop(who, None)
            if event["role"] == Role.AGENT and self.status is Status.ACTIVE:
                self.agent = None
                self.status = Status.QUEUED
                self.left_by = who
        elif kind == Event.TRANSFERRED:
            # The new agent takes the old one's place; it is connected (chat.transfers
            # gives chats only to agents with a socket here; one that went meanwhile is
            # marked disconnected right after).
            to = Participant.from_dict(event["to"])
            for pid in (who, to.id):
                self.away_since.pop(pid, None)
                self.following.pop(pid, None)
            self.connected.discard(who)
            self.connected.add(to.id)
            self.agent = to
            self.status = Status.ACTIVE
        elif kind == Event.CLOSED:
            self.status = Status.CLOSED
        elif kind == Event.NOTICE and event["notice"] == Notice.QUEUED:
            self.queued_since = datetime.fromisoformat(event["at"]).timestamp()
