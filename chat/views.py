import asyncio
import logging

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from chatsite.origins import allowed as allowed_origins
from ha.runtime import current

from . import availability
from .agents import display_name, is_agent
from .login_throttle import THROTTLED, ThrottledAuthenticationForm
from .supervisors import is_supervisor

logger = logging.getLogger(__name__)

# HTTP "Too Many Requests": what a throttled login answers (chat.login_throttle).
TOO_MANY_REQUESTS = 429
# How long the availability answer may be reused: the summary behind it moves once a second.
AVAILABILITY_MAX_AGE_S = 1
# How long the view waits for Redis before it answers that nobody is known to be there.
AVAILABILITY_REDIS_WAIT_S = 1.0


def customer_page(request: HttpRequest) -> HttpResponse:
    """The Chat HA web sample: a customer's chat page."""
    return render(request, "chat/customer.html")


@require_safe
async def availability_view(request: HttpRequest) -> HttpResponse:
    """``GET /api/chat/availability``: whether anybody is there for a new chat, so the
    page offers the offline form instead (chat.availability). Either member answers,
    from its options and the serving member's summary in Redis; no database."""
    instance = current()
    if instance is None:
        return JsonResponse({"error": "not a chat server instance"}, status=503)
    try:
        summary = await asyncio.wait_for(availability.read(instance.redis, instance.pair),
                                         AVAILABILITY_REDIS_WAIT_S)
    except Exception as error:  # Redis does not answer: nobody can start a chat either
        logger.warning("availability: the serving member's summary could not be read (%r)", error)
        summary = None
    response = JsonResponse(availability.answer(instance.settings, summary))
    origin = request.headers.get("Origin")
    if allowed_origins.allows(origin):
        response["Access-Control-Allow-Origin"] = origin
    patch_vary_headers(response, ["Origin"])
    response["Cache-Control"] = f"max-age={AVAILABILITY_MAX_AGE_S}"
    return response


@login_required
def agent_page(request: HttpRequest) -> HttpResponse:
    """The agent desktop, for agents only (chat.agents): any other login gets 403,
    as its socket would be refused."""
    user = request.user
    if not is_agent(user):
        return render(request, "registration/not_agent.html", status=403)
    return render(request, "chat/agent.html", {"display_name": display_name(user.pk, user.get_full_name())})


@login_required
def supervisor_page(request: HttpRequest) -> HttpResponse:
    """The supervisor page, for supervisors only (chat.supervisors): any other login
    gets 403, as its socket would be refused."""
    user = request.user
    if not is_supervisor(user):
        return render(request, "registration/not_supervisor.html", status=403)
    return render(request, "chat/supervisor.html", {"display_name": user.get_full_name() or user.username})


class LoginView(auth_views.LoginView):
    """Django's login page with failed logins throttled: a refused try answers 429
    with the form and a message that says how long to wait."""

    form_class = ThrottledAuthenticationForm

    def form_invalid(self, form: ThrottledAuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, THROTTLED):
            response.status_code = TOO_MANY_REQUESTS
            response["Retry-After"] = str(form.retry_after_s)
        return response
