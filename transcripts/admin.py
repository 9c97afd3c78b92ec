"""Transcripts in the admin: read-only, as the store only ever adds to them."""
from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

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
    list_display = ["session_id", "pair", "started_at", "ended_at", "end_reason", "saved_seq", "saves"]
    list_filter = ["pair", "end_reason"]
    search_fields = ["session_id", "participants__nickname"]
    readonly_fields = ["exports"]
    inlines = [ParticipantInline, EventInline]

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
