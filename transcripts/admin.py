"""Transcripts in the admin: read-only, as the store only ever adds to them; an
offline message's state (unanswered, taken, answered) is the one thing an operator
moves, with the actions below (transcripts.offline)."""
from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from . import offline
from .models import Event, Participant, Transcript


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ParticipantInline(ReadOnlyInline):
    model = Participant
    fields = ["participant_id", "role", "nickname"]


class EventInline(ReadOnlyInline):
    model = Event
    fields = ["seq", "type", "at", "data", "saved_at"]


@admin.register(Transcript)
class TranscriptAdmin(admin.ModelAdmin):
    list_display = ["session_id", "pair", "started_at", "ended_at", "end_reason", "offline", "email", "saved_seq",
                    "saves"]
    list_filter = ["offline", "pair", "end_reason"]
    search_fields = ["session_id", "participants__nickname", "email"]
    readonly_fields = ["exports"]
    inlines = [ParticipantInline, EventInline]
    actions = ["mark_taken", "mark_answered"]

    @admin.action(description="Take the selected offline messages (offline, taken)")
    def mark_taken(self, request, queryset) -> None:
        moved = offline.mark(queryset, Transcript.Offline.TAKEN, request.user.get_username())
        self.message_user(request, f"{moved} offline message(s) taken by {request.user.get_username()}.")

    @admin.action(description="Mark the selected offline messages answered")
    def mark_answered(self, request, queryset) -> None:
        moved = offline.mark(queryset, Transcript.Offline.ANSWERED, request.user.get_username())
        self.message_user(request, f"{moved} offline message(s) answered.")

    @admin.display(description="export")
    def exports(self, obj: Transcript) -> str:
        return format_html(
            '<a href="{}">text</a> · <a href="{}">JSON</a>',
            reverse("transcript-text", args=[obj.session_id]),
            reverse("transcript-json", args=[obj.session_id]),
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
