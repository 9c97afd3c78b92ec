"""The pair's live session log in Redis: the one module that writes it.

Every write is one Lua script that first compares the writer's epoch with the
pair's: a stale primary (one that lost the role to a takeover) is refused with
``Fenced`` and writes nothing. The same script numbers the event (seq = length
of the log + 1, so no gap and no repeat), drops a re-sent client_id, and moves
the session in or out of the pair's open set and queue, all atomically: a
message costs one round trip. A takeover's events (a ``disconnected`` for each
participant of each open session) go as the same script, one call per event,
in one pipeline (``append_many``): one round trip for them all.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict

import redis.asyncio as redis

from chatsite import rediskeys

_APPEND = """
-- KEYS: epoch, log, client-ids, meta, open set, queue
-- ARGV: writer epoch, session id, event JSON without seq, client_id or '',
--       open-set op, queue op, retention of a closed session (s), then meta field/value pairs
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= tonumber(ARGV[1]) then return {'fenced', tostring(current)} end
if ARGV[4] ~= '' then
  local seen = redis.call('HGET', KEYS[3], ARGV[4])
  if seen then return {'duplicate', redis.call('LINDEX', KEYS[2], tonumber(seen) - 1)} end
end
local seq = redis.call('LLEN', KEYS[2]) + 1
local event = string.sub(ARGV[3], 1, -2) .. ',"seq":' .. seq .. '}'
redis.call('RPUSH', KEYS[2], event)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], ARGV[4], seq) end
if #ARGV > 7 then redis.call('HSET', KEYS[4], unpack(ARGV, 8)) end
if ARGV[5] == 'open' then redis.call('SADD', KEYS[5], ARGV[2])
elseif ARGV[5] == 'close' then
  redis.call('SREM', KEYS[5], ARGV[2])
  for i = 2, 4 do redis.call('EXPIRE', KEYS[i], ARGV[7]) end
end
if ARGV[6] == 'push' then redis.call('RPUSH', KEYS[6], ARGV[2])
elseif ARGV[6] == 'remove' then redis.call('LREM', KEYS[6], 0, ARGV[2]) end
return {'stored', event}
"""


# A closed session's log stays this long for late resumes and the final
# transcript save (which retries for minutes at most), then Redis drops it.
CLOSED_SESSION_RETENTION_S = 24 * 60 * 60


class Fenced(Exception):
    """The pair has moved to a newer epoch: this writer no longer serves it."""

    def __init__(self, writer_epoch: int, pair_epoch: int) -> None:
        super().__init__(f"write at epoch {writer_epoch} refused: the pair is at epoch {pair_epoch}")
        self.pair_epoch = pair_epoch


class OpenSet(StrEnum):
    OPEN = "open"
    CLOSE = "close"


class Queue(StrEnum):
    PUSH = "push"
    REMOVE = "remove"


class Appending(TypedDict, total=False):
    """The options of one ``LiveLog.append``, for ``append_many``."""

    client_id: str
    open_set: OpenSet
    queue: Queue
    facts: dict[str, str]


@dataclass(frozen=True)
class Stored:
    event: dict[str, Any]
    duplicate: bool


class LiveLog:
    def __init__(self, client: redis.Redis, pair: str) -> None:
        self._redis = client
        self.pair = pair
        self._append = client.register_script(_APPEND)

    async def append(
        self,
        epoch: int,
        event: dict[str, Any],
        *,
        client_id: str = "",
        open_set: OpenSet | None = None,
        queue: Queue | None = None,
        facts: dict[str, str] | None = None,
    ) -> Stored:
        """Store ``event`` with the next seq; the stored event, or the original on a re-send."""
        keys, args = self._script_call(epoch, event, client_id, open_set, queue, facts)
        return self._outcome(epoch, await self._append(keys=keys, args=args))

    async def append_many(self, epoch: int, appends: Sequence[tuple[dict[str, Any], Appending]]) -> list[Stored]:
        """Store many events in one round trip, each by the script of ``append``
        with its options, in order; the stored events, in the same order.

        The pipeline is not a transaction: each event is fenced on its own, as
        if appended one by one. A writer already fenced writes none of them; if
        any was refused, this raises Fenced (a claim that lands midway leaves the
        events before it stored, at an epoch that was still the pair's).
        """
        if not appends:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for event, options in appends:
            keys, args = self._script_call(epoch, event, **options)
            # Queued on the pipeline; redis-py loads the script first if Redis lacks it.
            await self._append(keys=keys, args=args, client=pipe)
        return [self._outcome(epoch, reply) for reply in await pipe.execute()]

    def _script_call(
        self,
        epoch: int,
        event: dict[str, Any],
        client_id: str = "",
        open_set: OpenSet | None = None,
        queue: Queue | None = None,
        facts: dict[str, str] | None = None,
    ) -> tuple[list[str], list[Any]]:
        """The keys and arguments of the append script for ``event``."""
        session_id = event["session_id"]
        args: list[Any] = [
            epoch,
            session_id,
            json.dumps(event, separators=(",", ":")),
            client_id,
            open_set or "",
            queue or "",
            CLOSED_SESSION_RETENTION_S,
        ]
        for name, value in (facts or {}).items():
            args += [name, value]
        keys = [
            rediskeys.pair_epoch(self.pair),
            rediskeys.session_log(session_id),
            rediskeys.session_client_ids(session_id),
            rediskeys.session_meta(session_id),
            rediskeys.pair_open_sessions(self.pair),
            rediskeys.pair_queue(self.pair),
        ]
        return keys, args

    @staticmethod
    def _outcome(epoch: int, reply: list[bytes]) -> Stored:
        outcome, payload = reply
        if outcome == b"fenced":
            raise Fenced(epoch, int(payload))
        return Stored(json.loads(payload), duplicate=outcome == b"duplicate")

    async def events_after(self, session_id: str, last_seq: int) -> list[dict[str, Any]]:
        raw = await self._redis.lrange(rediskeys.session_log(session_id), max(last_seq, 0), -1)
        return [json.loads(item) for item in raw]

    async def facts(self, session_id: str) -> dict[str, str]:
        raw = await self._redis.hgetall(rediskeys.session_meta(session_id))
        return {key.decode(): value.decode() for key, value in raw.items()}

    async def sessions(self, session_ids: list[str]) -> list[tuple[dict[str, str], list[dict[str, Any]]]]:
        """Each session's first facts and events, in one round trip for them all
        (a takeover loads every open session before it serves)."""
        pipe = self._redis.pipeline(transaction=False)
        for session_id in session_ids:
            pipe.hgetall(rediskeys.session_meta(session_id))
            pipe.lrange(rediskeys.session_log(session_id), 0, -1)
        replies = await pipe.execute()
        return [
            (
                {key.decode(): value.decode() for key, value in facts.items()},
                [json.loads(item) for item in events],
            )
            for facts, events in zip(replies[::2], replies[1::2], strict=True)
        ]

    async def open_sessions(self) -> set[str]:
        return {raw.decode() for raw in await self._redis.smembers(rediskeys.pair_open_sessions(self.pair))}

    async def queue(self) -> list[str]:
        return [raw.decode() for raw in await self._redis.lrange(rediskeys.pair_queue(self.pair), 0, -1)]
