"""Offline messages (issue 13): what a customer leaves when nobody is there.

A message is kept as a transcript of its own (one customer, one ``message``
event) with ``offline = unanswered``, so the admin lists it beside the chats and
filters on it; an operator marks it taken, then answered. ``check`` validates
what the page posted, with the edge's rules for strings (chat.inbound) and the
errors of the socket protocol; ``leave`` stores it; ``mark`` moves its state.
``open_messages`` and ``move`` are the agent desktop's list and its take / answer.
Views and the admin only adapt to these.
"""
from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.db.models import Q

from chat.frames import ErrorCode, Event
from chat.inbound import MAX_NICKNAME, MAX_SESSION_ID, checked_string
from chat.limits import Addresses
from chat.session import ChatError, Role, iso
from chatsite import rediskeys

from .models import Event as EventRow
from .models import Participant, Transcript

# The longest email address a mail system takes (RFC 5321's path limit).
MAX_EMAIL = 254
# Why the transcript ended, for the admin and the export (a chat's is a close reason).
END_REASON = "offline-message"


@dataclass(frozen=True)
class OfflineMessage:
    name: str
    email: str
    text: str
    after_chat: str  # the chat that ended unanswered before it (queue-timeout), or ""


def _field(form: Mapping[str, Any], name: str, limit: int, *, multiline: bool = False,
           required: bool = True) -> str:
    value = form.get(name)
    if value is None or (required and not str(value).strip()):
        if required:
            raise ChatError(ErrorCode.MISSING_FIELD, f"the offline message needs {name!r}")
        return ""
    return checked_string(name, value, limit, multiline=multiline).strip()


def check(form: Mapping[str, Any], max_text: int) -> OfflineMessage:
    """The offline message the form holds; a ChatError naming the field otherwise."""
    name = _field(form, "name", MAX_NICKNAME)
    email = _field(form, "email", MAX_EMAIL)
    try:
        EmailValidator()(email)
    except ValidationError:
        raise ChatError(ErrorCode.BAD_EMAIL, f"{email[:64]!r} is not an email address") from None
    text = _field(form, "text", max_text, multiline=True)
    after_chat = _field(form, "session_id", MAX_SESSION_ID, required=False)
    return OfflineMessage(name, email, text, after_chat)


def leave(message: OfflineMessage, pair: str) -> Transcript:
    """Store ``message`` as an unanswered offline transcript of ``pair``."""
    now = datetime.now(UTC)
    customer_id = secrets.token_hex(8)
    data: dict[str, Any] = {"from": customer_id, "role": str(Role.CUSTOMER), "nickname": message.name,
                            "text": message.text}
    if message.after_chat:
        data["after_chat"] = message.after_chat
    with transaction.atomic():
        transcript = Transcript.objects.create(
            session_id=uuid.uuid4().hex, pair=pair, started_at=now, ended_at=now, end_reason=END_REASON,
            saved_seq=1, saves=1, offline=Transcript.Offline.UNANSWERED, email=message.email,
        )
        Participant.objects.create(transcript=transcript, participant_id=customer_id, role=str(Role.CUSTOMER),
                                   nickname=message.name)
        EventRow.objects.create(transcript=transcript, seq=1, type=str(Event.MESSAGE), at=now, data=data)
    return transcript


def mark(transcripts: Any, state: Transcript.Offline, by: str) -> int:
    """Move the offline messages among ``transcripts`` (a queryset) to ``state``;
    chats are left alone. How many moved."""
    return transcripts.exclude(offline=Transcript.Offline.NONE).update(offline=state, handled_by=by[:150])


def receipt(transcript: Transcript) -> dict[str, str]:
    """What the page is told once its message is stored."""
    return {"id": transcript.session_id, "state": transcript.offline, "at": iso(transcript.started_at)}


# The window of address-offline-messages-per-hour.
WINDOW_S = 3600


async def within_limit(client: Any, address: str | None, per_hour: int) -> bool:
    """Count one offline message from ``address`` (a client address the limits count:
    chat.limits) in Redis, so both members share the count; False past ``per_hour``
    in the current hour's window."""
    if not Addresses(settings.CHAT_TRUSTED_ADDRESSES).counted(address):
        return True
    key = rediskeys.offline_messages_of(address)
    async with client.pipeline(transaction=True) as pipe:
        pipe.set(key, 0, ex=WINDOW_S, nx=True)
        pipe.incr(key)
        _, count = await pipe.execute()
    return count <= per_hour


# The most offline messages the agent desktop lists at once, newest first.
DESK_LIST = 50


def open_messages(limit: int = DESK_LIST) -> list[dict[str, Any]]:
    """The offline messages still to answer (unanswered or taken), newest first, as
    the agent desktop shows them."""
    rows = (Transcript.objects.filter(offline__in=[Transcript.Offline.UNANSWERED, Transcript.Offline.TAKEN])
            .order_by("-started_at").prefetch_related("participants", "events")[:limit])
    listed = []
    for row in rows:
        customer = next(iter(row.participants.all()), None)
        first = next(iter(row.events.all()), None)
        listed.append({
            "id": row.session_id, "state": row.offline, "handled_by": row.handled_by, "email": row.email,
            "name": customer.nickname if customer else "", "text": first.data.get("text", "") if first else "",
            "at": iso(row.started_at),
        })
    return listed


class Move(StrEnum):
    TAKE = "take"
    ANSWER = "answer"


def move(message_id: str, what: Move, by: str) -> bool:
    """Take an unanswered message, or mark one answered (an unanswered one, or one
    ``by`` took); whether it moved. One conditional update: of two agents who take
    the same message at once, one wins."""
    offline_messages = Transcript.objects.filter(session_id=message_id)
    if what is Move.TAKE:
        movable = offline_messages.filter(offline=Transcript.Offline.UNANSWERED)
        target = Transcript.Offline.TAKEN
    else:
        movable = offline_messages.filter(
            Q(offline=Transcript.Offline.UNANSWERED) | Q(offline=Transcript.Offline.TAKEN, handled_by=by))
        target = Transcript.Offline.ANSWERED
    return movable.update(offline=target, handled_by=by[:150]) == 1
