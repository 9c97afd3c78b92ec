"""The saved transcript over HTTP, for staff only (contract: /api/transcripts/<id>.json|.txt)."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.shortcuts import get_object_or_404

from . import export
from .models import Transcript


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
