"""Who is an agent, and what customers see of one (issue 9).

One rule, used by the desk page (chat.views) and the agent socket (through
chat.identity's cached entry): an agent is an active member of the ``agents``
group, which ``manage.py createagent`` sets.

Customers see an agent by a participant id and a name. Neither is the login
name or the user's primary key: the id is an HMAC of the primary key under
SECRET_KEY (stable across restarts and on both members of a pair, which share
the key), the name is the user's full name or, without one, "Agent" and a few
characters of that id.
"""
from __future__ import annotations

from typing import Any

from django.utils.crypto import salted_hmac

AGENTS_GROUP = "agents"

# 64 bits of the HMAC: no two agents of one deployment meet by chance.
PUBLIC_ID_HEX_CHARS = 16
# The suffix of the fallback name: enough to tell agents apart in one chat.
NAME_SUFFIX_CHARS = 4
_SALT = "chat.agents.public_id"


def is_agent(user: Any) -> bool:
    """Whether ``user`` (a Django user) may take chats. A database query."""
    return bool(
        user.is_authenticated and user.is_active and user.groups.filter(name=AGENTS_GROUP).exists()
    )


async def ais_agent(user: Any) -> bool:
    """See is_agent()."""
    return bool(
        user.is_authenticated and user.is_active and await user.groups.filter(name=AGENTS_GROUP).aexists()
    )


def public_id(user_pk: int) -> str:
    """The agent's participant id in every chat: opaque, the same for the same user."""
    return "agent-" + salted_hmac(_SALT, str(user_pk), algorithm="sha256").hexdigest()[:PUBLIC_ID_HEX_CHARS]


def display_name(user_pk: int, full_name: str) -> str:
    """The name customers see: the full name, else one that does not identify the login."""
    return full_name.strip() or f"Agent {public_id(user_pk)[-NAME_SUFFIX_CHARS:].upper()}"
