"""System checks run at start-up (runchatserver runs them with the database ones):
a configuration that would let a session cookie be forged, and the configuration
of the pairs in the database."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import connections, router

from chatsite.env import DEV_SECRET_KEY


@register(Tags.security)
def secret_key_is_not_the_repository_one(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The fallback key is in the repository: with it anyone signs a session cookie
    of their choosing. Fine for DEBUG on one's own machine, never in service (issue 9)."""
    if settings.DEBUG or settings.SECRET_KEY != DEV_SECRET_KEY:
        return []
    return [Error(
        "SECRET_KEY is the repository's built-in fallback and DEBUG is off",
        hint="Set SECRET_KEY in the environment of every process of the stack (the same "
             "value on both members of a pair), or run `make run` once: it makes var/secret_key, "
             "which processes started by hand read too. DEBUG=1 accepts the fallback for development.",
        id="ha.E001",
    )]


def _tables_exist(*models: Any) -> bool:
    """Whether migrate made these models' tables: the checks also run before it does."""
    for model in models:
        connection = connections[router.db_for_read(model)]
        if model._meta.db_table not in connection.introspection.table_names():
            return False
    return True


@register(Tags.database)
def pair_members_agree(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Both members of a pair should run with the same options: after a failover
    the backup applies its own, and a chat should not change rules mid-way."""
    if not databases:
        return []
    from .models import Application, Option

    # `migrate` runs the database checks before it makes the tables (issue 9).
    if not _tables_exist(Application, Option):
        return []
    by_pair: defaultdict[str, list[Application]] = defaultdict(list)
    # Only the columns this check reads: during `migrate` a newer column may not be there yet.
    for application in Application.objects.only("name", "pair").prefetch_related("options"):
        by_pair[application.pair].append(application)
    messages: list[CheckMessage] = []
    for pair, members in sorted(by_pair.items()):
        if len(members) > 2:
            messages.append(Warning(
                f"pair {pair} has {len(members)} members: {', '.join(m.name for m in members)}",
                hint="A pair is one primary and one backup.", id="ha.W002",
            ))
        settings_of = [(member, member.settings()) for member in members]
        first, first_settings = settings_of[0]
        for member, member_settings in settings_of[1:]:
            differ = [name for name in first_settings if first_settings[name] != member_settings[name]]
            if differ:
                messages.append(Warning(
                    f"the members of pair {pair} have different options: {', '.join(differ)} "
                    f"({first.name} and {member.name})",
                    hint="Give both members of a pair the same options in the admin.", id="ha.W001",
                ))
    return messages
