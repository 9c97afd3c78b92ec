"""One save: the events of a session that the store lacks, from the live log to the store.

Runs on a Celery worker (transcripts.tasks). It reads the pair's live log and
never writes it: the chat servers own the log, the worker owns the store.
"""
from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from typing import Any

import redis.asyncio as redis

from chat.frames import Event
from chat.livelog import REPLAY_PAGE, LiveLog
from chatsite import redisconf

from .policy import keeps
from .store import Batch, Unavailable, get_store

logger = logging.getLogger(__name__)


def save(session_id: str, pair: str, notices: str) -> int:
    """Save what the store lacks of session ``session_id``; the highest seq it now holds.

    Then tells the due-save record (chat.livelog ``saved``) what the store holds,
    which takes the mark away once it reaches the owed seq. Raises store.Unavailable
    or store.Refused when the save did not happen.
    """
    store = get_store()
    after = store.saved_seq(session_id)
    facts, events = asyncio.run(_read(pair, session_id, after))
    if not facts:
        # Its log expired or was removed: nothing can complete it any more, so it is
        # no longer owed. Said loudly, as it loses what the store lacks.
        logger.error("session %s: the live log of pair %s has no such session; its transcript stays "
                     "at seq %d", session_id, pair, after)
        asyncio.run(_settle(pair, session_id, after, gone=True))
        return after
    saved = after
    if events:
        saved = store.write(batch(session_id, facts, events, after, notices))
        logger.info("session %s: saved events %d to %d", session_id, after + 1, saved)
    asyncio.run(_settle(pair, session_id, saved))
    return saved


async def _read(pair: str, session_id: str, after: int) -> tuple[dict[str, str], list[dict[str, Any]]]:
    client = redisconf.config().async_client()
    try:
        log = LiveLog(client, pair)
        facts, events = await log.facts(session_id), await log.events_after(session_id, after)
        page = events
        while len(page) == REPLAY_PAGE:  # a read gives a page: a long chat is read to its end
            page = await log.events_after(session_id, page[-1]["seq"])
            events += page
        return facts, events
    except (redis.ConnectionError, redis.TimeoutError) as error:
        raise Unavailable(f"the live log did not answer: {error}") from error
    finally:
        await client.aclose()


async def _settle(pair: str, session_id: str, saved: int, *, gone: bool = False) -> None:
    """Tell the due-save record that the store holds ``session_id`` up to ``saved``."""
    client = redisconf.config().async_client()
    try:
        await LiveLog(client, pair).saved(session_id, saved, gone=gone)
    except (redis.ConnectionError, redis.TimeoutError) as error:
        # Retried as any save: the next try writes nothing and settles.
        raise Unavailable(f"the live log did not answer: {error}") from error
    finally:
        await client.aclose()


def batch(session_id: str, facts: dict[str, str], events: list[dict[str, Any]], after: int,
          notices: str) -> Batch:
    """The save of ``events`` (the live log after seq ``after``), kept as ``notices`` says."""
    participants = {}
    # A transfer's new agent is a participant from the ``transferred`` event's ``to`` on.
    transferred_to = [e["to"] for e in events if e["type"] == Event.TRANSFERRED]
    for who in [json.loads(facts["customer"]), *events, *transferred_to]:
        who_id = who.get("id") or who.get("from")
        if who_id and "role" in who and who_id not in participants:
            participants[who_id] = {"id": who_id, "role": who["role"], "nickname": who["nickname"]}
    closed = next((e for e in events if e["type"] == Event.CLOSED), None)
    return Batch(
        session_id=session_id,
        pair=facts["pair"],
        subject=facts.get("subject", ""),
        started_at=datetime.fromisoformat(facts["started_at"]),
        after=after,
        upto=events[-1]["seq"] if events else after,
        participants=list(participants.values()),
        events=[e for e in events if keeps(e["type"], notices)],
        ended_at=datetime.fromisoformat(closed["at"]) if closed else None,
        end_reason=closed["reason"] if closed else "",
    )
