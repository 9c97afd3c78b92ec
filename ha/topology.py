"""Who serves a pair and who waits, as clients learn it from /api/ha/topology."""
from __future__ import annotations

import asyncio
from typing import Any

from django.db import DatabaseError
from redis.exceptions import RedisError

from .models import Application
from .runtime import Instance


def _member(application: Application | None) -> dict[str, str] | None:
    if application is None:
        return None
    return {"name": application.name, "http": application.http_url, "ws": application.ws_url}


async def topology(instance: Instance) -> dict[str, Any]:
    members = [app async for app in Application.objects.filter(pair=instance.pair)]
    holder = await instance.lease.holder()
    primary = next((app for app in members if app.name == holder), None)
    others = [app for app in members if app is not primary]
    # With no primary, the configured backup is the one to name as backup.
    others.sort(key=lambda app: app.configured_role != Application.Role.BACKUP)
    return {
        "pair": instance.pair,
        "epoch": await instance.lease.epoch(),
        "self": {"name": instance.name, "role": str(instance.role)},
        "primary": _member(primary),
        "backup": _member(others[0] if others else None),
    }


# The not-primary hint must not hold up closing sockets: past this, it is null.
HINT_TIMEOUT_S = 0.5


async def primary_ws_url(instance: Instance | None) -> str | None:
    """The serving instance's ws address, as a hint for a refused client; None
    when it cannot be told quickly (no primary, Redis cut off): the client then
    finds the primary itself."""
    if instance is None:
        return None

    async def look_up() -> str | None:
        holder = await instance.lease.holder()
        if holder is None:
            return None
        application = await Application.objects.filter(name=holder).afirst()
        return application.ws_url if application else None

    try:
        return await asyncio.wait_for(look_up(), HINT_TIMEOUT_S)
    except (TimeoutError, RedisError, DatabaseError):
        return None
