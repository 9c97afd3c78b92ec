"""The pair's live session log in Redis: the one module that writes it.

Every write is one Lua script that first compares the writer's epoch with the
pair's: a stale primary (one that lost the role to a takeover) is refused with
``Fenced`` and writes nothing. The same script numbers the event (seq = length
of the log + 1, so no gap and no repeat), drops a re-sent client_id, and moves
the session in or out of the pair's open set and queue, all atomically: a
message costs one round trip. A takeover's events (a ``disconnected`` for each
participant of each open session) are stored by the same Lua code, many events
to a script call, in one round trip for them all (``append_many``).
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypedDict, TypeVar

import redis.asyncio as redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from chatsite import rediskeys

# The most events one read of a session's log returns: a replay (a resume from
# seq 0 of a long chat, a chat handed to an agent) is read and sent a page at a
# time, never the whole log at once.
REPLAY_PAGE = 500

# The one write: fence, dedupe, number, store, move in the open set and queue.
# A Lua function, run for each event of a batch (``append`` batches the appends
# of one turn of the event loop; ``append_many`` is a batch already).
_APPEND_FUNCTION = """
local function append(epoch_key, log, client_ids, meta, open_set, queue,
                      writer_epoch, session_id, event_json, client_id, open_op, queue_op, retention, facts)
  local current = tonumber(redis.call('GET', epoch_key) or '0')
  if current ~= tonumber(writer_epoch) then return {'fenced', tostring(current)} end
  if client_id ~= '' then
    local seen = redis.call('HGET', client_ids, client_id)
    if seen then return {'duplicate', redis.call('LINDEX', log, tonumber(seen) - 1)} end
  end
  local seq = redis.call('LLEN', log) + 1
  local event = string.sub(event_json, 1, -2) .. ',"seq":' .. seq .. '}'
  redis.call('RPUSH', log, event)
  if client_id ~= '' then redis.call('HSET', client_ids, client_id, seq) end
  if #facts > 0 then redis.call('HSET', meta, unpack(facts)) end
  if open_op == 'open' then redis.call('SADD', open_set, session_id)
  elseif open_op == 'close' then
    redis.call('SREM', open_set, session_id)
    for _, key in ipairs({log, client_ids, meta}) do redis.call('EXPIRE', key, retention) end
  end
  if queue_op == 'push' then
    local last = redis.call('ZRANGE', queue, -1, -1, 'WITHSCORES')
    redis.call('ZADD', queue, 'NX', (tonumber(last[2]) or 0) + 1, session_id)
  elseif queue_op == 'remove' then redis.call('ZREM', queue, session_id) end
  return {'stored', event}
end
"""

_APPEND_MANY = _APPEND_FUNCTION + """
-- KEYS: epoch, open set, queue, then for each event: its session's log, client-ids, meta
-- ARGV: writer epoch, retention of a closed session (s), then for each event: session id,
--       event JSON without seq, client_id or '', open-set op, queue op, n, n meta field/values
-- Returns outcome, payload of each event in turn; or only 'fenced', epoch, having
-- written nothing (the epoch cannot move while the script runs).
local out, a = {}, 3
for k = 4, #KEYS, 3 do
  local n = tonumber(ARGV[a + 5])
  local result = append(KEYS[1], KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[2], KEYS[3],
                        ARGV[1], ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[2],
                        {unpack(ARGV, a + 6, a + 5 + n)})
  if result[1] == 'fenced' then return result end
  out[#out + 1] = result[1]
  out[#out + 1] = result[2]
  a = a + 6 + n
end
return out
"""

# append_many sends at most this many events in one script call: a call holds
# Redis for its whole run (some microseconds an event), and the lease renewals of
# both instances wait behind it. The calls of a batch share one round trip.
APPEND_MANY_CHUNK = 250

_LOAD = """
-- KEYS: for each session, its meta then its log
-- Returns for each session its meta as one JSON object, its log as one JSON array:
-- two strings a session, whatever its length, for the client to parse.
local out = {}
for i = 1, #KEYS, 2 do
  local meta = redis.call('HGETALL', KEYS[i])
  local facts = {}
  for j = 1, #meta, 2 do facts[meta[j]] = meta[j + 1] end
  out[#out + 1] = cjson.encode(facts)
  out[#out + 1] = '[' .. table.concat(redis.call('LRANGE', KEYS[i + 1], 0, -1), ',') .. ']'
end
return out
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


Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


class SameTurn(Generic[Item, Outcome]):
    """Calls made in one turn of the event loop, sent to Redis together.

    ``send(group, items)`` makes one round trip for a whole group (items that
    can share a script call or a pipeline) and gives each item its outcome, or
    the exception for that item alone. Under load a turn gathers hundreds of
    calls; when idle, a call waits for nothing but the end of its own turn.
    """

    def __init__(self, send: Callable[[Hashable, list[Item]], Awaitable[list[Outcome | Exception]]]) -> None:
        self._send = send
        self._waiting: dict[Hashable, list[tuple[Item, asyncio.Future[Outcome]]]] = {}
        self._sending: set[asyncio.Task[None]] = set()

    async def __call__(self, group: Hashable, item: Item) -> Outcome:
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[Outcome] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._flush)
        self._waiting.setdefault(group, []).append((item, outcome))
        return await outcome

    def _flush(self) -> None:
        waiting, self._waiting = self._waiting, {}
        for group, calls in waiting.items():
            task = asyncio.ensure_future(self._deliver(group, calls))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _deliver(self, group: Hashable, calls: list[tuple[Item, asyncio.Future[Outcome]]]) -> None:
        try:
            outcomes = await self._send(group, [item for item, _ in calls])
        except Exception as error:  # Redis failed: every call of the group hears it
            outcomes = [error] * len(calls)
        for (_, future), outcome in zip(calls, outcomes, strict=True):
            if future.done():
                continue  # its caller was cancelled
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)


class LiveLog:
    def __init__(self, client: redis.Redis, pair: str) -> None:
        self._redis = client
        self.pair = pair
        self._append_many = client.register_script(_APPEND_MANY)
        self._load = client.register_script(_LOAD)
        # Appends by epoch, reads of a log's tail: each turn's go in one round trip.
        self._appends: SameTurn[tuple[dict[str, Any], Appending], Stored] = SameTurn(self._append_chunks)
        self._tails: SameTurn[tuple[str, int], list[bytes]] = SameTurn(self._read_tails)

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
        """Store ``event`` with the next seq; the stored event, or the original on a re-send.

        Appends asked for in the same turn of the event loop (a reconnect storm,
        a busy minute) go to Redis together, as ``append_many`` sends them: the
        client spends about 30 us an event on a batch and 180 us on a call of its
        own. Each caller holds its session's lock, so a batch has at most one
        event of a session, and each event is fenced, deduped and numbered alone.
        """
        options: Appending = {"client_id": client_id, "facts": facts or {}}
        if open_set is not None:
            options["open_set"] = open_set
        if queue is not None:
            options["queue"] = queue
        return await self._appends(epoch, (event, options))

    async def append_many(self, epoch: int, appends: Sequence[tuple[dict[str, Any], Appending]]) -> list[Stored]:
        """Store many events, each as ``append`` stores it with its options, in order;
        the stored events, in the same order. One round trip for them all.

        The events go APPEND_MANY_CHUNK to a script call, the calls pipelined, not
        in a transaction. The epoch cannot move within a call: a writer already
        fenced writes none of them, and Fenced is raised if any call was refused (a
        claim that lands between two calls leaves the events of the calls before it
        stored, at an epoch that was still the pair's, as appends one by one would).
        """
        stored = []
        for outcome in await self._append_chunks(epoch, appends):
            if isinstance(outcome, Fenced):
                raise outcome
            stored.append(outcome)
        return stored

    async def _append_chunks(self, epoch: Hashable, appends: Sequence[tuple[dict[str, Any], Appending]]
                             ) -> list[Stored | Exception]:
        """Each event's outcome, in order: the events of a refused script call get
        its Fenced, those of the others their Stored."""
        if not appends:
            return []
        calls, sizes = [], []
        for start in range(0, len(appends), APPEND_MANY_CHUNK):
            keys = [
                rediskeys.pair_epoch(self.pair),
                rediskeys.pair_open_sessions(self.pair),
                rediskeys.pair_queue(self.pair),
            ]
            args: list[Any] = [epoch, CLOSED_SESSION_RETENTION_S]
            for event, options in appends[start:start + APPEND_MANY_CHUNK]:
                session_id = event["session_id"]
                keys += [
                    rediskeys.session_log(session_id),
                    rediskeys.session_client_ids(session_id),
                    rediskeys.session_meta(session_id),
                ]
                facts = options.get("facts") or {}
                args += [
                    session_id,
                    json.dumps(event, separators=(",", ":")),
                    options.get("client_id", ""),
                    options.get("open_set") or "",
                    options.get("queue") or "",
                    2 * len(facts),
                ]
                for name, value in facts.items():
                    args += [name, value]
            calls.append((keys, args))
            sizes.append(len(appends[start:start + APPEND_MANY_CHUNK]))
        try:
            replies = await self._call_pipelined(self._append_many, calls)
        except NoScriptError:  # Redis restarted, or its scripts were flushed: none ran
            await self._redis.script_load(self._append_many.script)
            replies = await self._call_pipelined(self._append_many, calls)
        outcomes: list[Stored | Exception] = []
        for size, reply in zip(sizes, replies, strict=True):
            if reply[0] == b"fenced":
                outcomes += [Fenced(epoch, int(reply[1])) for _ in range(size)]
            else:
                outcomes += [self._outcome(epoch, pair) for pair in zip(reply[::2], reply[1::2], strict=True)]
        return outcomes

    async def _call_pipelined(self, script: AsyncScript, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """The script's calls in one pipeline, by SHA alone: redis-py's own script
        calls on a pipeline ask Redis whether it knows them first (SCRIPT EXISTS,
        one more round trip for every batch)."""
        pipe = self._redis.pipeline(transaction=False)
        for keys, args in calls:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        return await pipe.execute()

    @staticmethod
    def _outcome(epoch: int, reply: Sequence[bytes]) -> Stored:
        outcome, payload = reply
        if outcome == b"fenced":
            raise Fenced(epoch, int(payload))
        return Stored(json.loads(payload), duplicate=outcome == b"duplicate")

    async def events_after(self, session_id: str, last_seq: int) -> list[dict[str, Any]]:
        """The session's events after ``last_seq``, at most REPLAY_PAGE of them (what a
        resume sends, a page at a time), read with the other resumes of the same turn
        in one pipeline."""
        return [json.loads(item) for item in await self._tails(None, (session_id, max(last_seq, 0)))]

    async def _read_tails(self, _: Hashable, tails: list[tuple[str, int]]) -> list[list[bytes] | Exception]:
        pipe = self._redis.pipeline(transaction=False)
        for session_id, after in tails:
            pipe.lrange(rediskeys.session_log(session_id), after, after + REPLAY_PAGE - 1)
        return await pipe.execute()

    async def facts(self, session_id: str) -> dict[str, str]:
        raw = await self._redis.hgetall(rediskeys.session_meta(session_id))
        return {key.decode(): value.decode() for key, value in raw.items()}

    async def sessions(self, session_ids: list[str]) -> list[tuple[dict[str, str], list[dict[str, Any]]]]:
        """Each session's first facts and events, in one round trip for them all
        (a takeover loads every open session before it serves): one read-only
        script call whose reply is two JSON strings a session, since parsing a
        reply element by element costs the client far more than the JSON."""
        if not session_ids:
            return []
        keys = []
        for session_id in session_ids:
            keys += [rediskeys.session_meta(session_id), rediskeys.session_log(session_id)]
        reply = await self._load(keys=keys)
        return [(json.loads(facts), json.loads(events)) for facts, events in zip(reply[::2], reply[1::2], strict=True)]

    async def open_sessions(self) -> set[str]:
        return {raw.decode() for raw in await self._redis.smembers(rediskeys.pair_open_sessions(self.pair))}

    async def queue(self) -> list[str]:
        """The waiting sessions, first in line first."""
        return [raw.decode() for raw in await self._redis.zrange(rediskeys.pair_queue(self.pair), 0, -1)]
