from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from chatsite.origins import allowed as allowed_origins

from .agents import display_name, is_agent
from .login_throttle import THROTTLED, ThrottledAuthenticationForm
from .service import service
from .supervisors import is_supervisor

# HTTP "Too Many Requests": what a throttled login answers (chat.login_throttle).
TOO_MANY_REQUESTS = 429


def customer_page(request: HttpRequest) -> HttpResponse:
    """The Chat HA web sample: a customer's chat page."""
    return render(request, "chat/customer.html")


@require_safe
async def wait_view(request: HttpRequest) -> HttpResponse:
    """``GET /api/chat/wait``: how many chats wait, and the estimated wait of a chat
    started now (chat.wait_estimate; absent with no basis), for a page that decides
    whether to offer a chat or a message. Async and from memory, as the topology:
    no database, no Redis. Only the serving member knows: elsewhere 503."""
    try:
        chats = service()
    except RuntimeError:  # not a chat server process
        chats = None
    if chats is None or not chats.instance.serving:
        response = JsonResponse({"serving": False}, status=503)
    else:
        body: dict[str, object] = {"serving": True, "waiting": len(chats.messages.waiting)}
        estimate = chats.queue.new_chat_wait_s()
        if estimate is not None:
            body["estimated_wait_s"] = estimate
        response = JsonResponse(body)
    # As the topology: the pair's own pages may read it from either member.
    origin = request.headers.get("Origin")
    if allowed_origins.allows(origin):
        response["Access-Control-Allow-Origin"] = origin
    patch_vary_headers(response, ["Origin"])
    response["Cache-Control"] = "no-store"
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
