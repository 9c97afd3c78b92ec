"""What the transcript options of a serving application mean, in one place.

The serving instance reads its options (ha.options) into a SavePolicy: when a
save is scheduled, who is told, what a failed save does to the chat. The part a
worker needs (retries, which notices to keep) travels with the task as
``SavePolicy.task_options()``, since a save retried because the database does
not answer could not read the options from there.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chat.frames import CloseReason, Event

from . import due

# The events transcript-save-notices calls "major notices".
MAJOR_NOTICES = frozenset({Event.JOINED, Event.LEFT, Event.DISCONNECTED, Event.RECONNECTED})
# Every event transcript-save-notices may leave out; messages and the end are always kept.
NOTICES = MAJOR_NOTICES | {Event.NOTICE}


def keeps(event_type: str, notices: str) -> bool:
    """Whether a transcript saved with ``transcript-save-notices = notices`` keeps an event."""
    if event_type not in NOTICES or notices == "all":
        return True
    return notices == "major" and event_type in MAJOR_NOTICES


@dataclass(frozen=True)
class SavePolicy:
    auto_save: int
    close_on_error: bool
    attempts: int
    delay: float
    notices: str

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> SavePolicy:
        return cls(
            auto_save=int(settings["transcript-auto-save"]),
            close_on_error=settings["transcript-save-on-error"] == "close",
            attempts=settings["transcript-resend-attempts"],
            delay=settings["transcript-resend-delay"],
            notices=settings["transcript-save-notices"],
        )

    def saves_after(self, event: Mapping[str, Any]) -> bool:
        """Whether storing ``event`` hands a save to the broker at once."""
        if event["type"] == Event.CLOSED:
            # A chat that a failed save closed gets no final save at once: the store
            # just failed. Its transcript stays owed (``owes``): the sweeper completes it.
            return event["reason"] != CloseReason.TRANSCRIPT_SAVE_ERROR
        return self.auto_save >= 1 and event["type"] == Event.MESSAGE

    def owes(self, event: Mapping[str, Any]) -> bool:
        """Whether storing ``event`` makes a save up to it owed (the due-save record):
        every end, whatever its reason, and every event that calls for a save."""
        return event["type"] == Event.CLOSED or self.saves_after(event)

    @property
    def sweep_after_s(self) -> float:
        """Seconds after an owed event before the sweeper hands its save: past the retries."""
        return due.sweep_after(self.attempts, self.delay)

    @property
    def tells_participants(self) -> bool:
        """Whether participants get ucs-save / ucs-save-fail notices."""
        return self.auto_save == 2

    def task_options(self) -> dict[str, Any]:
        """What transcripts.tasks.save_transcript needs besides the ids."""
        return {"attempts": self.attempts, "delay": self.delay, "notices": self.notices}

    def sweeper_task_options(self) -> dict[str, Any]:
        """The same for the sweeper's hand-offs: one try each (the sweeper is their
        retry, with its back-off) and no report, so that neither notices nor the
        ``close`` policy hear of them: those belong to the first save and its retries."""
        return {"attempts": 0, "delay": self.delay, "notices": self.notices, "report": False}

    def longest_save_seconds(self, one_try_seconds: float) -> float:
        """How long a save with every retry may take when each try takes ``one_try_seconds``."""
        return (self.attempts + 1) * one_try_seconds + self.attempts * self.delay
