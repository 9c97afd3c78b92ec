"""The pairs' configuration in the admin, and the operator's page of the live
sessions (issue 12): a list read from the live log (chat.live_sessions) and a
close that the serving primary carries out (chat.operator)."""
from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from chat import live_sessions, operator
from chat.identity import redis_client

from . import options
from .models import Application, Option

# How long the admin waits for the serving primary to close a chat before it says
# the chat is still open: the close is one write on the primary, well under this.
CLOSE_WAIT_S = 5.0


class OptionInline(admin.TabularInline):
    model = Option
    extra = 1
    fields = ["name", "value", "allowed", "default"]
    readonly_fields = ["allowed", "default"]

    @admin.display(description="allowed values")
    def allowed(self, obj: Option) -> str:
        return options.OPTIONS[obj.name].allowed if obj.name in options.OPTIONS else ""

    @admin.display(description="default")
    def default(self, obj: Option) -> str:
        return options.OPTIONS[obj.name].default if obj.name in options.OPTIONS else ""


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ["name", "pair", "configured_role", "host", "port", "public_url"]
    list_filter = ["pair"]
    inlines = [OptionInline]
    change_list_template = "admin/ha/application/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        live = [
            path("live-sessions/", self.admin_site.admin_view(self.live_sessions_view), name="ha_live_sessions"),
            path("live-sessions/close/", self.admin_site.admin_view(require_POST(self.close_session_view)),
                 name="ha_live_sessions_close"),
        ]
        return live + super().get_urls()

    def live_sessions_view(self, request: HttpRequest) -> HttpResponse:
        """The open sessions of every pair (or of ``?pair=``), matching ``?q=``."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        pairs = sorted(set(Application.objects.values_list("pair", flat=True)))
        chosen = request.GET.get("pair", "")
        query = request.GET.get("q", "")
        rows = live_sessions.read(redis_client(), [chosen] if chosen in pairs else pairs, query)
        context = {
            **self.admin_site.each_context(request),
            "title": "Live sessions",
            "opts": self.model._meta,
            "rows": rows,
            "pairs": pairs,
            "chosen": chosen,
            "query": query,
            "may_close": operator.may_close(request.user),
        }
        return TemplateResponse(request, "admin/ha/live_sessions.html", context)

    def close_session_view(self, request: HttpRequest) -> HttpResponse:
        """Close the posted ``session_id`` through the serving primary (chat.operator)."""
        if not operator.may_close(request.user):
            raise PermissionDenied
        session_id = request.POST.get("session_id", "")
        client = redis_client()
        outcome = operator.close(client, session_id, request.user.get_username(), CLOSE_WAIT_S)
        level = messages.SUCCESS if outcome is operator.Closed.CLOSED else messages.WARNING
        self.message_user(request, outcome.describe(session_id), level)
        back = {name: request.POST[name] for name in ("q", "pair") if request.POST.get(name)}
        return HttpResponseRedirect(reverse("admin:ha_live_sessions") + ("?" + urlencode(back) if back else ""))


@admin.register(Option)
class OptionAdmin(admin.ModelAdmin):
    list_display = ["application", "section", "name", "value"]
    list_filter = ["application", "name"]
