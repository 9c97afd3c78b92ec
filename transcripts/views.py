"""The saved transcript over HTTP, for staff only (contract: /api/transcripts/<id>.json|.txt);
the offline message a customer leaves when nobody is there, and the agent desktop's
list of them with take / answer (issue 13)."""
from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET, require_POST

from chat.agents import is_agent
from chat.frames import ErrorCode
from chat.session import ChatError
from ha.options import Settings
from ha.runtime import current

from . import export, offline
from .models import Transcript

# HTTP statuses of the offline form's answers (and the desk's CONFLICT: taken by another).
CREATED, BAD_REQUEST, FORBIDDEN, CONFLICT, TOO_MANY_REQUESTS = 201, 400, 403, 409, 429


def _transcript(request: HttpRequest, session_id: str) -> Transcript | HttpResponse:
    if not (request.user.is_authenticated and request.user.is_staff):
        return HttpResponseForbidden("transcripts are for staff only\n", content_type="text/plain")
    return get_object_or_404(Transcript, session_id=session_id)


def transcript_json(request: HttpRequest, session_id: str) -> HttpResponse:
    found = _transcript(request, session_id)
    return found if isinstance(found, HttpResponse) else JsonResponse(export.as_json(found))


def transcript_text(request: HttpRequest, session_id: str) -> HttpResponse:
    found = _transcript(request, session_id)
    if isinstance(found, HttpResponse):
        return found
    return HttpResponse(export.as_text(found), content_type="text/plain; charset=utf-8")


@require_POST
async def offline_message(request: HttpRequest) -> HttpResponse:
    """``POST /api/chat/offline-message`` (a form, with the page's CSRF token): the
    message is stored as an unanswered offline transcript; 201 with its id, 400
    with the socket protocol's error code, 429 past address-offline-messages-per-hour."""
    instance = current()
    options = instance.settings if instance is not None else Settings()
    try:
        message = offline.check(request.POST, options["max-message-length"])
        address = request.META.get("REMOTE_ADDR")
        if instance is not None and not await offline.within_limit(
                instance.redis, address, options["address-offline-messages-per-hour"]):
            raise ChatError(ErrorCode.RATE_LIMITED, "rate limit address-offline-messages-per-hour: at most "
                            f"{options['address-offline-messages-per-hour']} offline messages an hour per "
                            "client address")
    except ChatError as error:
        status = TOO_MANY_REQUESTS if error.code is ErrorCode.RATE_LIMITED else BAD_REQUEST
        return JsonResponse(error.frame(), status=status)
    pair = instance.pair if instance is not None else ""
    transcript = await sync_to_async(offline.leave)(message, pair)
    return JsonResponse(offline.receipt(transcript), status=CREATED)


def _not_an_agent(request: HttpRequest) -> JsonResponse | None:
    if is_agent(request.user):
        return None
    return JsonResponse(ChatError(ErrorCode.NOT_YOURS, "offline messages are for agents (log in as one)").frame(),
                        status=FORBIDDEN)


@require_GET
def offline_messages(request: HttpRequest) -> HttpResponse:
    """``GET /api/chat/offline-messages``: the offline messages still to answer, for
    the agent desktop (agents only)."""
    refused = _not_an_agent(request)
    if refused is not None:
        return refused
    response = JsonResponse({"messages": offline.open_messages()})
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def offline_message_move(request: HttpRequest, message_id: str, what: str) -> HttpResponse:
    """``POST /api/chat/offline-messages/<id>/take`` or ``/answer`` (agents only, CSRF):
    200 once moved, 409 when another agent took it first or it is not open."""
    refused = _not_an_agent(request)
    if refused is not None:
        return refused
    by = request.user.get_username()
    if not offline.move(message_id, offline.Move(what), by):
        return JsonResponse(ChatError(ErrorCode.NOT_YOURS, f"offline message {message_id} is not open to {what} "
                                      "(another agent took it, or it is answered)").frame(), status=CONFLICT)
    return JsonResponse({"id": message_id, "state": Transcript.objects.get(session_id=message_id).offline,
                         "handled_by": by})
