"""What an operator sees of a pair (ha_status, ha_switchover), read from the
database and Redis without asking the instances."""
from __future__ import annotations

from typing import Any

import redis
from django.core.management.base import CommandError

from chatsite import redisconf, rediskeys
from transcripts.due import STUCK_AFTER_S

from .models import Application


def connect() -> redis.Redis:
    return redisconf.config().client(decode_responses=True, socket_connect_timeout=2)


def pairs_named(pair: str | None) -> list[str]:
    """The pair asked for, or every configured pair; CommandError if there is none."""
    known = sorted(set(Application.objects.values_list("pair", flat=True)))
    if pair is None:
        if not known:
            raise CommandError("no applications are configured")
        return known
    if pair not in known:
        raise CommandError(f"no pair named {pair!r} (configured: {', '.join(known) or 'none'})")
    return [pair]


def pair_status(client: redis.Redis, pair: str) -> dict[str, Any]:
    holder = client.get(rediskeys.pair_lease(pair))
    members = []
    for app in Application.objects.filter(pair=pair):
        alive = bool(client.exists(rediskeys.instance_alive(pair, app.name)))
        members.append({
            "name": app.name,
            "configured_role": app.configured_role,
            "role": "primary" if app.name == holder else ("backup" if alive else "down"),
            "alive": alive,
            "http": app.http_url,
        })
    return {
        "pair": pair,
        "epoch": int(client.get(rediskeys.pair_epoch(pair)) or 0),
        "primary": holder,
        "open_sessions": client.scard(rediskeys.pair_open_sessions(pair)),
        "queued": client.zcard(rediskeys.pair_queue(pair)),
        **owed_transcripts(client, pair),
        "instances": members,
    }


def owed_transcripts(client: redis.Redis, pair: str) -> dict[str, int]:
    """How many of the pair's transcripts are owed a save (chat.livelog's due-save
    record), and how many of those for longer than transcripts.due.STUCK_AFTER_S:
    their live logs are kept until they are saved, and an operator should look."""
    seconds, micros = client.time()
    now = seconds + micros / 1e6
    key = rediskeys.pair_saves_owed(pair)
    return {
        "transcripts_owed": client.zcard(key),
        "transcripts_stuck": client.zcount(key, "-inf", now - STUCK_AFTER_S),
    }
