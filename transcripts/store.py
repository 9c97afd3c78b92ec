"""The transcript store behind one small interface, chosen by a dotted path.

``settings.TRANSCRIPT_STORE`` names the class (as SESSION_ENGINE names a
session backend); tests put a store there that fails on purpose. A store
raises Unavailable for what may pass (the database does not answer, a
time-out: the save is tried again) and Refused for what will not.

A write is idempotent: it adds only the events after the seq the store holds,
under the transcript's row lock, so a save that runs twice, or two saves of
the same session at once, write each event once.
"""
from __future__ import annotations

import dataclasses
import functools
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, transaction
from django.utils.module_loading import import_string

from . import models


class SaveFailed(Exception):
    """A save did not happen."""

    kind = "failed"


class Unavailable(SaveFailed):
    """The store did not answer or timed out: trying again may work."""

    kind = "unavailable"


class Refused(SaveFailed):
    """The store answered with an error that trying again will not cure."""

    kind = "refused"


@dataclass(frozen=True)
class Batch:
    """What one save adds to a session's transcript: the events after ``after`` up to ``upto``."""

    session_id: str
    pair: str
    subject: str
    started_at: datetime
    after: int
    upto: int
    participants: list[dict[str, str]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    ended_at: datetime | None = None
    end_reason: str = ""


class Store(ABC):
    """The interface: what the save task needs of a transcript store."""

    @abstractmethod
    def saved_seq(self, session_id: str) -> int:
        """The highest seq of the session the store holds; 0 for none."""

    @abstractmethod
    def write(self, batch: Batch) -> int:
        """Add the part of ``batch`` the store lacks; the highest seq it now holds."""


@contextmanager
def _database_errors() -> Iterator[None]:
    """Sort the database's errors into the store's two kinds."""
    try:
        yield
    except (OperationalError, InterfaceError) as error:
        raise Unavailable(str(error).strip() or type(error).__name__) from error
    except DatabaseError as error:
        raise Refused(str(error).strip() or type(error).__name__) from error


class DatabaseStore(Store):
    """Transcripts in the project's database (PostgreSQL in production)."""

    def saved_seq(self, session_id: str) -> int:
        with _database_errors():
            saved = (
                models.Transcript.objects.filter(session_id=session_id)
                .values_list("saved_seq", flat=True)
                .first()
            )
        return saved or 0

    def write(self, batch: Batch) -> int:
        batch = storable(batch)
        with _database_errors(), transaction.atomic():
            transcript, _ = models.Transcript.objects.select_for_update().get_or_create(
                session_id=batch.session_id,
                defaults={"pair": batch.pair, "subject": batch.subject, "started_at": batch.started_at},
            )
            if transcript.saved_seq >= batch.upto:
                return transcript.saved_seq
            known = set(transcript.participants.values_list("participant_id", flat=True))
            models.Participant.objects.bulk_create(
                models.Participant(transcript=transcript, participant_id=p["id"], role=p["role"],
                                   nickname=p["nickname"])
                for p in batch.participants
                if p["id"] not in known
            )
            models.Event.objects.bulk_create(
                models.Event(
                    transcript=transcript, seq=event["seq"], type=event["type"],
                    at=datetime.fromisoformat(event["at"]), data=_data(event),
                )
                for event in batch.events
                if event["seq"] > transcript.saved_seq
            )
            transcript.saved_seq = batch.upto
            transcript.saves += 1
            if batch.ended_at is not None:
                transcript.ended_at, transcript.end_reason = batch.ended_at, batch.end_reason
            transcript.save()
        return batch.upto


# What models.Event keeps in columns rather than in ``data``.
_COLUMNS = frozenset({"seq", "type", "at", "session_id"})


def _data(event: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in event.items() if name not in _COLUMNS}


# What PostgreSQL cannot keep in text or jsonb: NUL, and lone surrogates (not
# Unicode at all). The socket refuses both at the edge (chat.inbound); this is the
# second line, for whatever reached a live log some other way: one such character
# must not make a transcript unsavable for good.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(batch: Batch) -> Batch:
    """``batch`` with every unstorable character replaced by U+FFFD."""
    return dataclasses.replace(batch, subject=_clean(batch.subject), participants=_clean(batch.participants),
                               events=_clean(batch.events), end_reason=_clean(batch.end_reason))


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {_clean(key): _clean(item) for key, item in value.items()}
    return value


@functools.cache
def get_store() -> Store:
    """The store ``settings.TRANSCRIPT_STORE`` names, made once per process."""
    return import_string(settings.TRANSCRIPT_STORE)()
