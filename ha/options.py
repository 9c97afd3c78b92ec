"""Every configuration option, declared once: name, allowed values, default, help.

Options live in the database per application, section ``settings`` (see
ha.models.Option). The admin, the model's clean(), a running instance and the
docs all read this table, so an option is added here and nowhere else.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

SECTION = "settings"


class OptionError(ValueError):
    """A value an option does not allow; the message names both."""


@dataclass(frozen=True)
class Option:
    name: str
    default: str
    allowed: str
    help: str
    parse: Callable[[str], Any]

    def clean(self, raw: str) -> Any:
        try:
            return self.parse(raw.strip())
        except OptionError:
            raise  # a parser that says itself what is wrong (opening-hours)
        except (ValueError, TypeError):
            raise OptionError(
                f"{self.name}: {raw!r} is not allowed; allowed values: {self.allowed}"
            ) from None


def _choice(*values: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in values:
            raise ValueError(raw)
        return raw

    return parse


def _integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if value < minimum or (maximum is not None and value > maximum):
            raise ValueError(raw)
        return value

    return parse


def _boolean(raw: str) -> bool:
    if raw not in ("true", "false"):
        raise ValueError(raw)
    return raw == "true"


def _text(raw: str) -> str:
    """A text shown to the participants: not empty, fits the Option.value column."""
    if not raw or len(raw) > 255:
        raise ValueError(raw)
    return raw


def _opening_hours(raw: str) -> Any:
    """Checked by the one parser the server uses (chat.opening_hours), whose message
    says what is wrong where."""
    from chat.opening_hours import HoursError, OpeningHours

    try:
        return OpeningHours.parse(raw)
    except HoursError as error:
        raise OptionError(f"opening-hours: {error}; e.g. 'mon-fri 08:00-18:00; sat 09:00-13:00', "
                          "or 'always'") from None


def _time_zone(raw: str) -> Any:
    from chat.opening_hours import HoursError, zone

    try:
        return zone(raw)
    except HoursError as error:
        raise OptionError(f"time-zone: {error}") from None


def _positive_seconds(raw: str) -> float:
    value = float(raw)
    if not value > 0 or value == float("inf"):
        raise ValueError(raw)
    return value


OPTIONS: dict[str, Option] = {
    option.name: option
    for option in (
        # The seed's options, with its vendor's defaults.
        Option(
            "session-restoration-mode", "none", "none, simple",
            "simple: a backup that takes over restores the open chat sessions; "
            "none: they are closed with the reason not-restored.",
            _choice("none", "simple"),
        ),
        Option(
            "transcript-auto-save", "0", "0, 1, 2",
            "0: save the transcript when the session ends; 1: also after each message; "
            "2: as 1, and participants get ucs-save / ucs-save-fail notices.",
            _choice("0", "1", "2"),
        ),
        Option(
            "transcript-save-on-error", "continue", "continue, close",
            "close: a save that fails for good ends the session without a final save; "
            "continue: the chat goes on and the next save catches up.",
            _choice("continue", "close"),
        ),
        Option(
            "transcript-resend-attempts", "3", "an integer >= 0",
            "How many times a save that failed with a recoverable error is tried again.",
            _integer(0),
        ),
        Option(
            "transcript-resend-delay", "1", "a number of seconds > 0",
            "Seconds between those retries.",
            _positive_seconds,
        ),
        Option(
            "transcript-save-notices", "major", "none, major, all",
            "Which notice events the saved transcript keeps: none; major (joined, left, "
            "disconnected, reconnected); all.",
            _choice("none", "major", "all"),
        ),
        # The project's own.
        Option(
            "max-message-length", "4096", "an integer from 1 to 16384",
            "The longest message text a participant may send, in characters (the frame "
            "size limit, 128 KiB, leaves room for 16384).",
            _integer(1, 16384),
        ),
        # What one socket and one client address may ask (chat.limits).
        Option(
            "socket-messages-per-10s", "200", "an integer >= 1",
            "Messages one socket may send in 10 seconds (a burst of this many, then evenly); "
            "past it a message is refused with the error rate-limited.",
            _integer(1),
        ),
        Option(
            "socket-typing-per-10s", "100", "an integer >= 1",
            "Typing notices one socket may send in 10 seconds; past it they are dropped "
            "with the error rate-limited, not relayed.",
            _integer(1),
        ),
        Option(
            "socket-frames-per-10s", "1000", "an integer >= 10",
            "Frames of any kind one socket may send in 10 seconds; past it the socket is a "
            "flood and is closed (1008) as on a disconnect.",
            _integer(10),
        ),
        Option(
            "address-sockets", "100", "an integer >= 1",
            "Sockets one client address may hold open at once (addresses in "
            "CHAT_TRUSTED_ADDRESSES are not counted); past it: too-many-sockets, then closed.",
            _integer(1),
        ),
        Option(
            "address-new-chats-per-minute", "30", "an integer >= 1",
            "Chats one client address may start in a minute (a burst of this many, then "
            "evenly); past it a start is refused with the error rate-limited.",
            _integer(1),
        ),
        Option(
            "queue-max-waiting", "10000", "an integer >= 1",
            "How many chats may wait for an agent at once; past it a start is refused "
            "with the error busy.",
            _integer(1),
        ),
        Option(
            "agent-capacity", "3", "an integer >= 1",
            "How many chats one agent holds at once; more wait in the queue.",
            _integer(1),
        ),
        Option(
            "participant-return-timeout", "60", "a number of seconds > 0",
            "How long a disconnected participant (a dropped socket, a failover) may take to come "
            "back before it is taken to have left; a chat whose customer left is closed.",
            _positive_seconds,
        ),
        Option(
            "session-inactivity-timeout", "0", "a whole number of seconds >= 0",
            "Close a chat in which nobody has written a message for this long, with the "
            "reason inactivity, queued or not (the older, simpler rule; see inactivity-control-"
            "enabled); 0 never closes a chat for that.",
            _integer(0),
        ),
        # Genesys' inactivity-control section, one option each (chat.session.Inactivity).
        Option(
            "inactivity-control-enabled", "false", "true, false",
            "true: warn, then close, an active chat (one an agent has) in which nobody joined, "
            "left or wrote for a while; a chat waiting in the queue is never touched by it.",
            _boolean,
        ),
        Option(
            "inactivity-timeout-alert", "240", "a whole number of seconds >= 0",
            "Seconds of inactivity after which both sides get the notice inactivity-alert with "
            "inactivity-message-alert; 0, or not less than inactivity-timeout-close: no alert.",
            _integer(0),
        ),
        Option(
            "inactivity-timeout-close", "300", "a whole number of seconds >= 0",
            "Seconds of inactivity after which the chat is closed with the reason inactivity, "
            "after the notice inactivity-close with inactivity-message-close; 0: never closed.",
            _integer(0),
        ),
        Option(
            "inactivity-message-alert", "Are you still there? This chat will close soon if nobody writes.",
            "a text of 1 to 255 characters",
            "The text of the inactivity-alert notice, shown on both pages.",
            _text,
        ),
        Option(
            "inactivity-message-close", "This chat was closed because nobody wrote for a while.",
            "a text of 1 to 255 characters",
            "The text of the inactivity-close notice, shown on both pages before the chat closes.",
            _text,
        ),
        Option(
            "inactivity-include-notices", "false", "true, false",
            "true: notice events (queued, ucs-save, switchover, ...) also restart the inactivity "
            "timer; false: only a participant joining, leaving or writing does.",
            _boolean,
        ),
        # Nobody there (issue 13): the offline path (chat.availability, transcripts.offline).
        Option(
            "queue-timeout", "0", "a whole number of seconds >= 0",
            "How long a chat may wait in the queue for an agent; past it the chat is closed with "
            "the reason queue-timeout and the customer is offered to leave a message; 0: no limit.",
            _integer(0),
        ),
        Option(
            "opening-hours", "always",
            "always, or days and times such as: mon-fri 08:00-18:00; sat 09:00-13:00",
            "When agents are there, in time-zone's local time: entries separated by ';', each days "
            "(mon, mon-fri, sat,sun) then HH:MM-HH:MM ranges separated by ','. Outside them the page "
            "offers to leave a message and a start is refused with the error closed.",
            _opening_hours,
        ),
        Option(
            "time-zone", "UTC", "an IANA time zone name such as Europe/Paris",
            "The time zone of opening-hours.",
            _time_zone,
        ),
        Option(
            "address-offline-messages-per-hour", "10", "an integer >= 1",
            "Offline messages one client address may leave in an hour (addresses in "
            "CHAT_TRUSTED_ADDRESSES are not counted); past it the form is answered 429.",
            _integer(1),
        ),
        Option(
            "ha-lease-ttl-ms", "1500", "an integer >= 300",
            "How long the primary's lease lasts unless renewed: a dead primary is "
            "noticed by its backup at most this long after its last renewal.",
            _integer(300),
        ),
        Option(
            "ha-renew-interval-ms", "500", "an integer >= 50",
            "How often the primary renews its lease (on a thread of its own); keep it at most "
            "a third of ha-lease-ttl-ms so two renewals may fail before the lease lapses.",
            _integer(50),
        ),
        Option(
            "ha-watch-interval-ms", "100", "an integer >= 20",
            "How often the backup looks whether the primary's connection to Redis is still "
            "open: a killed primary is replaced within about this long, without waiting "
            "for its lease to lapse (the lease still guards a hung or cut-off primary).",
            _integer(20),
        ),
    )
}


def clean_value(name: str, raw: str) -> Any:
    """Parse ``raw`` for option ``name``; OptionError says what is allowed."""
    try:
        option = OPTIONS[name]
    except KeyError:
        raise OptionError(
            f"{name!r} is not a known option; known options: {', '.join(OPTIONS)}"
        ) from None
    return option.clean(raw)


class Settings(Mapping[str, Any]):
    """The parsed value of every option: the stored one, else the default.

    A stored value that no longer parses (edited outside the admin) falls back
    to the default rather than stopping a serving instance.
    """

    def __init__(self, stored: Mapping[str, str] | None = None) -> None:
        self._values: dict[str, Any] = {}
        for name, option in OPTIONS.items():
            raw = (stored or {}).get(name)
            try:
                self._values[name] = option.clean(raw if raw is not None else option.default)
            except OptionError:
                self._values[name] = option.clean(option.default)

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and self._values == other._values
