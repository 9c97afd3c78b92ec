"""System checks on the configuration in the database (run by runchatserver)."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.database)
def pair_members_agree(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Both members of a pair should run with the same options: after a failover
    the backup applies its own, and a chat should not change rules mid-way."""
    if not databases:
        return []
    from .models import Application

    by_pair: defaultdict[str, list[Application]] = defaultdict(list)
    for application in Application.objects.prefetch_related("options"):
        by_pair[application.pair].append(application)
    messages: list[CheckMessage] = []
    for pair, members in sorted(by_pair.items()):
        if len(members) > 2:
            messages.append(Warning(
                f"pair {pair} has {len(members)} members: {', '.join(m.name for m in members)}",
                hint="A pair is one primary and one backup.", id="ha.W002",
            ))
        settings = [(member, member.settings()) for member in members]
        first, first_settings = settings[0]
        for member, member_settings in settings[1:]:
            differ = [name for name in first_settings if first_settings[name] != member_settings[name]]
            if differ:
                messages.append(Warning(
                    f"the members of pair {pair} have different options: {', '.join(differ)} "
                    f"({first.name} and {member.name})",
                    hint="Give both members of a pair the same options in the admin.", id="ha.W001",
                ))
    return messages
