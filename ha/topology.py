"""Who serves a pair and who waits, as clients learn it from /api/ha/topology."""
from __future__ import annotations

from typing import Any

from .models import Application
from .runtime import Instance


def _member(application: Application | None) -> dict[str, str] | None:
    if application is None:
        return None
    return {"name": application.name, "http": application.http_url, "ws": application.ws_url}


def topology(instance: Instance) -> dict[str, Any]:
    """From what the instance knows already (its members, the lease as its keeper
    last saw it): no query, so that a reconnect storm's pages cost nothing here."""
    members = list(instance.members.values())
    holder = instance.name if instance.serving else instance.holder
    primary = next((app for app in members if app.name == holder), None)
    others = [app for app in members if app is not primary]
    # With no primary, the configured backup is the one to name as backup.
    others.sort(key=lambda app: app.configured_role != Application.Role.BACKUP)
    return {
        "pair": instance.pair,
        "epoch": max(instance.pair_epoch, instance.epoch),
        "self": {"name": instance.name, "role": str(instance.role)},
        "primary": _member(primary),
        "backup": _member(others[0] if others else None),
    }
