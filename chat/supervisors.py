"""Who is a supervisor, and how the chats know one (issue 13).

One rule, used by the supervisor page (chat.views) and the supervisor socket
(through chat.identity's cached entry): a supervisor is an active member of
the ``supervisors`` group, which ``manage.py createagent USER --supervisor``
sets. A supervisor sees every open chat of the pair, monitors one silently,
coaches its agent (internal messages) and may barge in (chat.supervision).

A supervisor's participant id is, as an agent's, an HMAC of the user's primary
key under SECRET_KEY, with a salt of its own: a customer who sees a supervisor
barge in learns neither the login name nor the user id, nor that this is the
same person as some agent.
"""
from __future__ import annotations

from typing import Any

from django.utils.crypto import salted_hmac

from .agents import PUBLIC_ID_HEX_CHARS

SUPERVISORS_GROUP = "supervisors"
_SALT = "chat.supervisors.supervisor_id"


def is_supervisor(user: Any) -> bool:
    """Whether ``user`` (a Django user) may open the supervisor page. A database query."""
    return bool(
        user.is_authenticated and user.is_active and user.groups.filter(name=SUPERVISORS_GROUP).exists()
    )


async def ais_supervisor(user: Any) -> bool:
    """See is_supervisor()."""
    return bool(
        user.is_authenticated and user.is_active and await user.groups.filter(name=SUPERVISORS_GROUP).aexists()
    )


def supervisor_id(user_pk: int) -> str:
    """The supervisor's participant id: opaque, the same for the same user."""
    return "supervisor-" + salted_hmac(_SALT, str(user_pk), algorithm="sha256").hexdigest()[:PUBLIC_ID_HEX_CHARS]
