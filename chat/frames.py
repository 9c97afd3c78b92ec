"""The websocket protocol's vocabulary, in one place: frame and event types,
error codes, close codes and close reasons (docs/protocol.md)."""
from enum import StrEnum


class In(StrEnum):
    """Frames a client sends."""

    START = "start"
    RESUME = "resume"
    MESSAGE = "message"
    TYPING = "typing"
    LEAVE = "leave"
    READY = "ready"
    CLOSE = "close"
    # A supervisor's (chat.supervision): follow a chat silently, stop, join it visibly.
    MONITOR = "monitor"
    UNMONITOR = "unmonitor"
    BARGE_IN = "barge-in"
    # An agent's (chat.transfers): hand a chat to another agent; list who could take it.
    TRANSFER = "transfer"
    AGENTS = "agents"


class Out(StrEnum):
    """Frames the server sends that are not session events."""

    STARTED = "started"
    RESUMED = "resumed"
    ASSIGNED = "assigned"
    TYPING = "typing"
    ERROR = "error"
    NOT_PRIMARY = "not-primary"
    # To a supervisor (chat.supervision): the open chats of the pair; a chat now monitored.
    CHATS = "chats"
    MONITORING = "monitoring"
    UNMONITORED = "unmonitored"
    # A standby socket was taken (chat.consumers.wants_standby).
    STANDBY = "standby"
    AGENTS = "agents"  # to an agent: who a chat can be transferred to (chat.transfers)


class Event(StrEnum):
    """Session events: stored in the live log with a seq, then sent."""

    MESSAGE = "message"
    JOINED = "joined"
    LEFT = "left"
    DISCONNECTED = "disconnected"
    RECONNECTED = "reconnected"
    NOTICE = "notice"
    CLOSED = "closed"
    TRANSFERRED = "transferred"  # an agent handed the chat to another (``to``)


class Notice(StrEnum):
    QUEUED = "queued"
    UCS_SAVE = "ucs-save"
    UCS_SAVE_FAIL = "ucs-save-fail"
    SWITCHOVER = "switchover"
    # inactivity-control (chat.session.Inactivity): a warning, then the close's text.
    INACTIVITY_ALERT = "inactivity-alert"
    INACTIVITY_CLOSE = "inactivity-close"
    # What an agent who transfers a chat (or leaves it to the queue) writes for the
    # next agent: visibility internal (agents only, once visibility lands).
    TRANSFER_NOTE = "transfer-note"


class Visibility(StrEnum):
    """Who may see an event (Genesys' visibility ALL / INT). ``all`` is the default and
    is left off the wire; an ``internal`` event never reaches a customer's socket."""

    ALL = "all"
    INTERNAL = "internal"


class CloseReason(StrEnum):
    CUSTOMER_LEFT = "customer-left"
    AGENT_CLOSED = "agent-closed"
    TRANSCRIPT_SAVE_ERROR = "transcript-save-error"
    NOT_RESTORED = "not-restored"
    INACTIVITY = "inactivity"
    OPERATOR_CLOSED = "operator-closed"  # from the admin (chat.operator)
    QUEUE_TIMEOUT = "queue-timeout"  # waited past queue-timeout: the offline path


class ErrorCode(StrEnum):
    BAD_JSON = "bad-json"
    BAD_FRAME = "bad-frame"
    UNKNOWN_TYPE = "unknown-type"
    MISSING_FIELD = "missing-field"
    TOO_LONG = "too-long"
    NO_SESSION = "no-session"
    NOT_YOURS = "not-yours"
    BAD_TOKEN = "bad-token"
    SESSION_CLOSED = "session-closed"
    ALREADY_STARTED = "already-started"
    NOT_PRIMARY = "not-primary"
    BAD_TEXT = "bad-text"  # not valid Unicode, or a control character
    OUT_OF_RANGE = "out-of-range"
    RATE_LIMITED = "rate-limited"  # the error names the limit (chat.limits)
    BUSY = "busy"  # the queue is full: no new chat now
    TOO_MANY_SOCKETS = "too-many-sockets"  # from one client address
    UNAVAILABLE = "unavailable"  # the store did not answer: nothing was done, send again
    NOT_JOINED = "not-joined"  # a supervisor's message to everyone before it barged in
    CLOSED = "closed"  # start outside opening-hours: nobody is there (the offline path)
    BAD_EMAIL = "bad-email"  # the offline form's email is not an address
    # A transfer's target is not an agent logged in, available and under capacity.
    AGENT_UNAVAILABLE = "agent-unavailable"


# Websocket close codes (4000-4999 are the application's).
CLOSE_NOT_PRIMARY = 4010
CLOSE_FORBIDDEN = 4003
# RFC 6455's 1011 and 1008, moved into that range: autobahn (under daphne) lets a
# server close only with 1000 or 3000-4999.
CLOSE_INTERNAL_ERROR = 4011  # an error the server did not expect: the socket was cleaned up
CLOSE_POLICY_VIOLATION = 4008  # a flood, or too many sockets from one address
