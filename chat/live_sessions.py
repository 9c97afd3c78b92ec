"""The live sessions as an operator sees them (issue 12): read from the pairs'
live logs in Redis, never from the transcript store, so that the list shows what
the serving primary serves right now, from either member of a pair.

The Django side's Redis client (chat.identity.redis_client, made through
chatsite.redisconf) is passed in, so that the module reads as plain functions.

Read-only: a row is the session rebuilt from its first facts and its events
(``ChatSession.rebuild``, the same fold a takeover uses), summed up in a
``LiveSession``. Reading never writes, so it cannot disturb the primary; closing
a chat goes through the serving primary (chat.operator).
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from chatsite import rediskeys

from .session import ChatSession, Status


@dataclass(frozen=True)
class LiveSession:
    """One row of the operator's list."""

    session_id: str
    pair: str
    nickname: str
    agent: str | None
    state: Status
    started_at: datetime
    waiting_since: datetime | None  # while queued: since the stored ``queued`` notice
    last_seq: int
    last_message_at: datetime | None  # the last message, else the start

    @classmethod
    def of(cls, session: ChatSession) -> LiveSession:
        return cls(
            session_id=session.id,
            pair=session.pair,
            nickname=session.customer.nickname,
            agent=session.agent.nickname if session.agent is not None else None,
            state=session.status,
            started_at=datetime.fromisoformat(session.started_at),
            waiting_since=_moment(session.queued_since),
            last_seq=session.last_seq,
            last_message_at=_moment(session.last_message_at or None),
        )

    def matches(self, query: str) -> bool:
        """Whether the search ``query`` is in the nickname, the session id or the
        agent's name (case-insensitive); an empty query matches every row."""
        needle = query.strip().casefold()
        return not needle or any(needle in text.casefold() for text in (self.nickname, self.session_id,
                                                                         self.agent or ""))


def _moment(unix: float | None) -> datetime | None:
    return None if unix is None else datetime.fromtimestamp(unix, UTC)


def row(session_id: str, facts: dict[str, str], events: list[dict[str, Any]]) -> LiveSession | None:
    """The row of a session from what its live log holds; None when the log does not
    hold an open session (its facts are gone, or it closed since the open set was read)."""
    if not facts:
        return None
    session = ChatSession.rebuild(session_id, facts, events)
    return LiveSession.of(session) if session.is_open else None


def read(client: redis.Redis, pairs: Iterable[str], query: str = "") -> list[LiveSession]:
    """The open sessions of ``pairs`` that match ``query``, longest waiting first,
    then oldest first: two pipelined round trips for them all."""
    pairs = sorted(set(pairs))
    pipe = client.pipeline(transaction=False)
    for pair in pairs:
        pipe.smembers(rediskeys.pair_open_sessions(pair))
    session_ids = sorted({_text(raw) for members in pipe.execute() for raw in members})
    if not session_ids:
        return []
    pipe = client.pipeline(transaction=False)
    for session_id in session_ids:
        pipe.hgetall(rediskeys.session_meta(session_id))
        pipe.lrange(rediskeys.session_log(session_id), 0, -1)
    replies = pipe.execute()
    rows = []
    for session_id, facts, log in zip(session_ids, replies[::2], replies[1::2], strict=True):
        live = row(session_id, {_text(k): _text(v) for k, v in facts.items()}, [json.loads(e) for e in log])
        if live is not None and live.matches(query):
            rows.append(live)
    far_future = datetime.max.replace(tzinfo=UTC)
    return sorted(rows, key=lambda r: (r.waiting_since or far_future, r.started_at, r.session_id))


def is_open(client: redis.Redis, pair: str, session_id: str) -> bool:
    """Whether ``session_id`` is still in its pair's open set."""
    return bool(client.sismember(rediskeys.pair_open_sessions(pair), session_id))


def pair_of(client: redis.Redis, session_id: str) -> str | None:
    """The pair a session belongs to, from its facts; None if the live log has no such session."""
    raw = client.hget(rediskeys.session_meta(session_id), "pair")
    return None if raw is None else _text(raw)


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw
