"""The transcript store (the seed's UCS): one durable, ordered record per chat session.

Rows are written only by transcripts.store.DatabaseStore on a Celery worker and
only ever added to: a transcript grows by the events after ``saved_seq`` and
nothing in it is changed afterwards, so the admin shows it read-only.
"""
from __future__ import annotations

from django.db import models

from chat.session import iso


class Transcript(models.Model):
    class Offline(models.TextChoices):
        """An offline message's state (issue 13); blank for a chat."""

        NONE = "", "not an offline message"
        UNANSWERED = "unanswered", "offline, unanswered"
        TAKEN = "taken", "offline, taken"
        ANSWERED = "answered", "offline, answered"

    session_id = models.CharField(max_length=64, unique=True)
    pair = models.SlugField(max_length=64)
    subject = models.TextField(blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(
        max_length=64, blank=True, help_text="How the chat ended: the reason of its closed event."
    )
    saved_seq = models.PositiveIntegerField(
        default=0,
        help_text="The live log holds the events up to this seq; notices that the "
        "transcript-save-notices option left out count as saved.",
    )
    saves = models.PositiveIntegerField(default=0, help_text="How many saves added to it.")
    updated_at = models.DateTimeField(auto_now=True)
    # A message left when nobody was there (transcripts.offline): who to answer, and where it stands.
    offline = models.CharField(
        max_length=16, choices=Offline.choices, default=Offline.NONE, blank=True, db_index=True,
        help_text="An offline message left when nobody was there, and whether someone took or answered it.",
    )
    email = models.EmailField(blank=True, help_text="Where to answer an offline message.")
    handled_by = models.CharField(max_length=150, blank=True,
                                  help_text="Who took or answered the offline message (a login).")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"chat {self.session_id} of {self.started_at:%Y-%m-%d %H:%M}"


class Participant(models.Model):
    transcript = models.ForeignKey(Transcript, on_delete=models.CASCADE, related_name="participants")
    participant_id = models.CharField(max_length=64)
    role = models.CharField(max_length=16)
    nickname = models.TextField()

    class Meta:
        ordering = ["transcript", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["transcript", "participant_id"], name="one_row_per_participant"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.nickname} ({self.role})"


class Event(models.Model):
    transcript = models.ForeignKey(Transcript, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=32)
    at = models.DateTimeField()
    data = models.JSONField(
        default=dict, help_text="The event's other fields (from, text, notice, reason, ...)."
    )
    saved_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["transcript", "seq"]
        constraints = [
            # The idempotency of a save, enforced where a race cannot slip past it.
            models.UniqueConstraint(fields=["transcript", "seq"], name="one_event_per_seq"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.type}"

    def as_dict(self) -> dict:
        """The event as the live log and the clients had it (without session_id)."""
        return {"seq": self.seq, "type": self.type, "at": iso(self.at), **self.data}
