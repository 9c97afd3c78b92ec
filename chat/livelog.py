"""The pair's live session log in Redis: the one module that writes it.

Every write is one Lua script that first compares the writer's epoch with the
pair's: a stale primary (one that lost the role to a takeover) is refused with
``Fenced`` and writes nothing. The same script numbers the event (seq = length
of the log + 1, so no gap and no repeat), drops a re-sent client_id, and moves
the session in or out of the pair's open set and queue, all atomically: a
message costs one round trip. A takeover's events (a ``disconnected`` for each
participant of each open session) are stored by the same Lua code, many events
to a script call, in one round trip for them all (``append_many``).

The same script keeps the due-save record of the pair's transcripts (issue 10):
an event that calls for a save (``save_after``) marks the session's transcript
as owed up to its seq, so that no event is stored without its save being owed;
only a worker that stored that seq takes the mark away (``saved``), and only
then does a closed session's log get its expiry. The serving primary's sweeper
reads what came due (``due_saves``; transcripts.sweeper).
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypedDict, TypeVar

import redis.asyncio as redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from chatsite import rediskeys

from .replication import NO_REPLICAS, ReplicaAcks
from .session import SNAPSHOT_FACT
from .wire import event_bytes, loads

# The most events one read of a session's log returns: a replay (a resume from
# seq 0 of a long chat, a chat handed to an agent) is read and sent a page at a
# time, never the whole log at once.
REPLAY_PAGE = 500

# The one write: fence, dedupe, number, store, move in the open set and queue.
# A Lua function, run for each event of a batch (``append`` batches the appends
# of one turn of the event loop; ``append_many`` is a batch already).
_APPEND_FUNCTION = """
local function append(epoch_key, log, client_ids, meta, open_set, queue, saves,
                      writer_epoch, session_id, event_json, client_id, open_op, queue_op, save_after,
                      retention, facts)
  local current = tonumber(redis.call('GET', epoch_key) or '0')
  if current ~= tonumber(writer_epoch) then return {'fenced', tostring(current), ''} end
  if client_id ~= '' then
    local seen = redis.call('HGET', client_ids, client_id)
    if seen then return {'duplicate', redis.call('LINDEX', log, tonumber(seen) - 1), ''} end
  end
  local seq = redis.call('LLEN', log) + 1
  local event = string.sub(event_json, 1, -2) .. ',"seq":' .. seq .. '}'
  -- Visibility (issue 13): an internal event (its JSON starts with the key, which
  -- no other event's does) is counted; every later event the customer is shown
  -- carries customer_seq, its place among those, when internal events came before
  -- it. So the customer's seq counts from 1 with no gap, and nothing tells it
  -- that an internal event was there.
  if string.sub(event_json, 1, 25) == '{"visibility":"internal",' then
    redis.call('HINCRBY', meta, 'internal_events', 1)
  else
    local hidden = tonumber(redis.call('HGET', meta, 'internal_events') or '0')
    if hidden > 0 then
      event = string.sub(event_json, 1, -2) .. ',"seq":' .. seq .. ',"customer_seq":' .. (seq - hidden) .. '}'
    end
  end
  redis.call('RPUSH', log, event)
  if client_id ~= '' then redis.call('HSET', client_ids, client_id, seq) end
  if #facts > 0 then redis.call('HSET', meta, unpack(facts)) end
  if save_after ~= '' then
    -- The due-save record (issue 10): a save up to this seq is owed from now on,
    -- and the sweeper hands it again unless a worker stores it within save_after s.
    local t = redis.call('TIME')
    local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
    redis.call('HSET', saves.upto, session_id, seq)
    redis.call('ZADD', saves.owed, 'NX', now, session_id)
    redis.call('ZADD', saves.due, 'GT', now + tonumber(save_after), session_id)
  end
  if open_op == 'open' then redis.call('SADD', open_set, session_id)
  elseif open_op == 'close' then
    redis.call('SREM', open_set, session_id)
    -- A closed session's log is kept while its transcript is owed: its expiry
    -- comes with the worker's confirmation of the final save (``saved``).
    if redis.call('HEXISTS', saves.upto, session_id) == 0 then
      for _, key in ipairs({log, client_ids, meta}) do redis.call('EXPIRE', key, retention) end
    end
  end
  -- A push answers with the session's rank in the queue (its score): the serving
  -- instance orders its waiting line by it, so that the line in memory is the one
  -- here, whatever order concurrent batches' answers come back in.
  local rank = ''
  if queue_op == 'push' then
    local last = redis.call('ZRANGE', queue, -1, -1, 'WITHSCORES')
    redis.call('ZADD', queue, 'NX', (tonumber(last[2]) or 0) + 1, session_id)
    rank = redis.call('ZSCORE', queue, session_id)
  elseif queue_op == 'remove' then redis.call('ZREM', queue, session_id) end
  return {'stored', event, rank}
end
"""

_APPEND_MANY = _APPEND_FUNCTION + """
-- KEYS: epoch, open set, queue, saves owed, saves due, saves upto, then for each
--       event: its session's log, client-ids, meta
-- ARGV: writer epoch, retention of a closed session (s), then for each event: session id,
--       event JSON without seq, client_id or '', open-set op, queue op, the seconds
--       after which the sweeper hands its save ('' if the event owes none), n, n meta
--       field/values
-- Returns outcome, payload, queue rank ('' unless pushed) of each event in turn; or
-- only 'fenced', epoch, '', having written nothing (the epoch cannot move while the
-- script runs).
local out, a = {}, 3
local saves = {owed = KEYS[4], due = KEYS[5], upto = KEYS[6]}
for k = 7, #KEYS, 3 do
  local n = tonumber(ARGV[a + 6])
  local result = append(KEYS[1], KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[2], KEYS[3], saves,
                        ARGV[1], ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5],
                        ARGV[2], {unpack(ARGV, a + 7, a + 6 + n)})
  if result[1] == 'fenced' then return result end
  out[#out + 1] = result[1]
  out[#out + 1] = result[2]
  out[#out + 1] = result[3]
  a = a + 7 + n
end
return out
"""

# append_many sends at most this many events in one script call: a call holds
# Redis for its whole run (some microseconds an event), and the lease renewals of
# both instances wait behind it. The calls of a batch share one round trip.
APPEND_MANY_CHUNK = 250

# The seq of the snapshot kept in a session's meta (beside SNAPSHOT_FACT), for the
# scripts to read it without decoding the snapshot.
SNAPSHOT_SEQ_FACT = "snapshot_seq"

_LOAD = """
-- KEYS: for each session, its meta then its log; ARGV: the meta field of the snapshot's seq
-- Returns for each session its meta as one JSON object, and as one JSON array its
-- log after the snapshot the meta holds (all of it if none: seq N is item N - 1):
-- two strings a session, whatever its length, for the client to parse.
local out = {}
for i = 1, #KEYS, 2 do
  local meta = redis.call('HGETALL', KEYS[i])
  local facts = {}
  for j = 1, #meta, 2 do facts[meta[j]] = meta[j + 1] end
  out[#out + 1] = cjson.encode(facts)
  local after = tonumber(facts[ARGV[1]] or '0')
  out[#out + 1] = '[' .. table.concat(redis.call('LRANGE', KEYS[i + 1], after, -1), ',') .. ']'
end
return out
"""

# The snapshots of sessions' states (chat.session.SNAPSHOT_FACT), kept in their
# meta: those of one turn of the event loop in one call. Any snapshot is the fold
# of a prefix of the log (a writer folds only what it stored), so none needs the
# epoch fence; a later one only replaces an earlier, and a session whose meta is
# gone (expired after its close) gets none.
_KEEP_SNAPSHOTS = """
-- KEYS: each session's meta
-- ARGV: the meta fields of the snapshot and of its seq, then for each session its
--       snapshot's seq and snapshot
-- Returns for each session 1 if its snapshot was kept, else 0.
local out = {}
for i = 1, #KEYS do
  local seq, snapshot = ARGV[2 * i + 1], ARGV[2 * i + 2]
  out[i] = 0
  if redis.call('EXISTS', KEYS[i]) == 1
      and tonumber(redis.call('HGET', KEYS[i], ARGV[2]) or '0') < tonumber(seq) then
    redis.call('HSET', KEYS[i], ARGV[1], snapshot, ARGV[2], seq)
    out[i] = 1
  end
end
return out
"""


# The due-save record (issue 10), per pair: ``saves owed`` (session -> since when,
# by Redis's clock, a save is owed), ``saves due`` (session -> when the sweeper
# hands it next), ``saves upto`` (session -> the seq the store must reach).
# ``saved`` is the worker's side: a save stored up to a seq takes the mark away
# only if it reached the owed one, and lets a closed session's log expire.
_SAVED = """
-- KEYS: saves owed, saves due, saves upto, open set, then the session's log, client-ids, meta
-- ARGV: session id, the seq the store holds, retention of a closed session (s),
--       '1' to take the mark away whatever it says (the log is gone)
-- Returns the seq still owed, 0 for none.
local upto = redis.call('HGET', KEYS[3], ARGV[1])
if upto then
  if ARGV[4] ~= '1' and tonumber(upto) > tonumber(ARGV[2]) then
    -- Stored part of it: progress, so not stuck; the rest stays owed.
    local t = redis.call('TIME')
    redis.call('ZADD', KEYS[1], 'XX', tonumber(t[1]) + tonumber(t[2]) / 1000000, ARGV[1])
    return tonumber(upto)
  end
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
if redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 0 and redis.call('TTL', KEYS[5]) == -1 then
  for k = 5, 7 do redis.call('EXPIRE', KEYS[k], ARGV[3]) end
end
return 0
"""

_DUE = """
-- KEYS: saves owed, saves due, saves upto; ARGV: the most to return
-- Returns Redis's time (s), then for each save due by then: session id, the seq owed,
-- since when it is owed.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local out = {tostring(now)}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[3], id) or '0'
  out[#out + 1] = redis.call('ZSCORE', KEYS[1], id) or tostring(now)
end
return out
"""

# A closed session's log stays this long after its final transcript save is
# confirmed (for late resumes), then Redis drops it. Until that confirmation it
# stays, however long the store is away (issue 10).
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
    save_after: float | None


@dataclass(frozen=True)
class OwedSave:
    """A transcript save the due-save record holds: up to ``upto``, owed since ``since``
    (Redis's clock, unix seconds)."""

    session_id: str
    upto: int
    since: float


@dataclass(frozen=True)
class Stored:
    event: dict[str, Any]
    duplicate: bool
    # The session's rank in the pair's queue, when the event put it there (Queue.PUSH).
    queue_rank: float | None = None


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
    def __init__(self, client: redis.Redis, pair: str, replicas: ReplicaAcks | None = None) -> None:
        self._redis = client
        self.pair = pair
        # How many Redis replicas must hold an append before it is sent (chat.replication).
        self.replicas = replicas or NO_REPLICAS
        self._append_many = client.register_script(_APPEND_MANY)
        self._load = client.register_script(_LOAD)
        self._keep_snapshots = client.register_script(_KEEP_SNAPSHOTS)
        self._saved = client.register_script(_SAVED)
        self._due = client.register_script(_DUE)
        self._saves_keys = [
            rediskeys.pair_saves_owed(pair), rediskeys.pair_saves_due(pair), rediskeys.pair_saves_upto(pair),
        ]
        # Appends by epoch, reads of a log's tail: each turn's go in one round trip.
        self._appends: SameTurn[tuple[dict[str, Any], Appending], Stored] = SameTurn(self._append_chunks)
        self._tails: SameTurn[tuple[str, int], list[bytes]] = SameTurn(self._read_tails)
        self._snapshots: SameTurn[tuple[str, int, str], bool] = SameTurn(self._keep_snapshots_of)

    async def append(
        self,
        epoch: int,
        event: dict[str, Any],
        *,
        client_id: str = "",
        open_set: OpenSet | None = None,
        queue: Queue | None = None,
        facts: dict[str, str] | None = None,
        save_after: float | None = None,
    ) -> Stored:
        """Store ``event`` with the next seq; the stored event, or the original on a re-send.

        With ``save_after``, the same script marks a transcript save of the session up
        to this event as owed (the due-save record), due to the sweeper in that many
        seconds unless a worker stores it first.

        Appends asked for in the same turn of the event loop (a reconnect storm,
        a busy minute) go to Redis together, as ``append_many`` sends them: the
        client spends about 30 us an event on a batch and 180 us on a call of its
        own. Each caller holds its session's lock, so a batch has at most one
        event of a session, and each event is fenced, deduped and numbered alone.
        """
        options: Appending = {"client_id": client_id, "facts": facts or {}, "save_after": save_after}
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
                *self._saves_keys,
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
                save_after = options.get("save_after")
                args += [
                    session_id,
                    event_bytes(event),
                    options.get("client_id", ""),
                    options.get("open_set") or "",
                    options.get("queue") or "",
                    "" if save_after is None else save_after,
                    2 * len(facts),
                ]
                for name, value in facts.items():
                    args += [name, value]
            calls.append((keys, args))
            sizes.append(len(appends[start:start + APPEND_MANY_CHUNK]))
        try:
            replies = await self._call_pipelined(self._append_many, calls, len(appends))
        except NoScriptError:  # Redis restarted, or its scripts were flushed: none ran
            await self._redis.script_load(self._append_many.script)
            replies = await self._call_pipelined(self._append_many, calls, len(appends))
        outcomes: list[Stored | Exception] = []
        for size, reply in zip(sizes, replies, strict=True):
            if reply[0] == b"fenced":
                outcomes += [Fenced(epoch, int(reply[1])) for _ in range(size)]
            else:
                outcomes += [self._outcome(epoch, triple)
                             for triple in zip(reply[::3], reply[1::3], reply[2::3], strict=True)]
        return outcomes

    async def _call_pipelined(self, script: AsyncScript, calls: list[tuple[list[str], list[Any]]],
                              events: int) -> list[Any]:
        """The script's calls in one pipeline, by SHA alone: redis-py's own script
        calls on a pipeline ask Redis whether it knows them first (SCRIPT EXISTS,
        one more round trip for every batch). With replica acknowledgement on, a
        WAIT ends the pipeline: on the same connection, so it covers these writes."""
        pipe = self._redis.pipeline(transaction=False)
        for keys, args in calls:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        waits = self.replicas.wait_now()
        if waits:
            pipe.execute_command("WAIT", self.replicas.replicas, self.replicas.wait_ms)
        replies = await pipe.execute()
        if waits:
            self.replicas.acknowledged(replies.pop(), events)
        else:
            self.replicas.unwaited(events)
        return replies

    @staticmethod
    def _outcome(epoch: int, reply: Sequence[bytes]) -> Stored:
        outcome, payload, rank = reply
        if outcome == b"fenced":
            raise Fenced(epoch, int(payload))
        return Stored(loads(payload), duplicate=outcome == b"duplicate", queue_rank=float(rank) if rank else None)

    async def events_after(self, session_id: str, last_seq: int) -> list[dict[str, Any]]:
        """The session's events after ``last_seq``, at most REPLAY_PAGE of them (what a
        resume sends, a page at a time), read with the other resumes of the same turn
        in one pipeline."""
        return [loads(item) for item in await self._tails(None, (session_id, max(last_seq, 0)))]

    async def _read_tails(self, _: Hashable, tails: list[tuple[str, int]]) -> list[list[bytes] | Exception]:
        pipe = self._redis.pipeline(transaction=False)
        for session_id, after in tails:
            pipe.lrange(rediskeys.session_log(session_id), after, after + REPLAY_PAGE - 1)
        return await pipe.execute()

    async def keep_snapshot(self, session_id: str, seq: int, snapshot: str) -> bool:
        """Keep ``snapshot`` (the session's state at ``seq``) with the session's facts,
        unless a later one is there or the session is gone; whether it was kept. With
        the other snapshots of the same turn, in one script call."""
        return await self._snapshots(None, (session_id, seq, snapshot))

    async def _keep_snapshots_of(self, _: Hashable, snapshots: list[tuple[str, int, str]]) -> list[bool]:
        args: list[Any] = [SNAPSHOT_FACT, SNAPSHOT_SEQ_FACT]
        for _, seq, snapshot in snapshots:
            args += [seq, snapshot]
        kept = await self._keep_snapshots(keys=[rediskeys.session_meta(sid) for sid, _, _ in snapshots], args=args)
        return [bool(one) for one in kept]

    async def facts(self, session_id: str) -> dict[str, str]:
        raw = await self._redis.hgetall(rediskeys.session_meta(session_id))
        return {key.decode(): value.decode() for key, value in raw.items()}

    async def sessions(self, session_ids: list[str]) -> list[tuple[dict[str, str], list[dict[str, Any]]]]:
        """Each session's facts (its snapshot among them, if one was kept) and its
        events after that snapshot, in one round trip for them all (a takeover loads
        every open session before it serves): one read-only script call whose reply
        is two JSON strings a session, since parsing a reply element by element costs
        the client far more than the JSON. ``ChatSession.rebuild`` folds them."""
        if not session_ids:
            return []
        keys = []
        for session_id in session_ids:
            keys += [rediskeys.session_meta(session_id), rediskeys.session_log(session_id)]
        reply = await self._load(keys=keys, args=[SNAPSHOT_SEQ_FACT])
        return [(loads(facts), loads(events)) for facts, events in zip(reply[::2], reply[1::2], strict=True)]

    async def open_sessions(self) -> set[str]:
        return {raw.decode() for raw in await self._redis.smembers(rediskeys.pair_open_sessions(self.pair))}

    async def queue(self) -> list[str]:
        """The waiting sessions, first in line first."""
        return [session_id for session_id, _ in await self.ranked_queue()]

    async def ranked_queue(self) -> list[tuple[str, float]]:
        """The waiting sessions and their ranks (see Stored.queue_rank), first in line first."""
        return [(raw.decode(), rank) for raw, rank in
                await self._redis.zrange(rediskeys.pair_queue(self.pair), 0, -1, withscores=True)]

    # -- the due-save record (issue 10) ----------------------------------------

    async def saved(self, session_id: str, seq: int, *, gone: bool = False) -> int:
        """A worker stored session ``session_id`` up to ``seq``: the owed save is done if
        that reaches the seq it is owed up to, and then a closed session's log gets its
        expiry. With ``gone`` (its log is no more) the mark goes whatever it says.
        The seq still owed; 0 for none."""
        keys = [
            *self._saves_keys,
            rediskeys.pair_open_sessions(self.pair),
            rediskeys.session_log(session_id),
            rediskeys.session_client_ids(session_id),
            rediskeys.session_meta(session_id),
        ]
        return int(await self._saved(keys=keys, args=[session_id, seq, CLOSED_SESSION_RETENTION_S,
                                                      "1" if gone else "0"]))

    async def due_saves(self, limit: int) -> tuple[float, list[OwedSave]]:
        """Redis's time now, and at most ``limit`` owed saves due to the sweeper by then."""
        reply = await self._due(keys=self._saves_keys, args=[limit])
        owed = [
            OwedSave(session_id.decode(), int(upto), float(since))
            for session_id, upto, since in zip(reply[1::3], reply[2::3], reply[3::3], strict=True)
        ]
        return float(reply[0]), owed

    async def reschedule_saves(self, due_at: dict[str, float]) -> None:
        """When the sweeper hands each save next, for those still owed (a save stored
        meanwhile is not brought back)."""
        if due_at:
            await self._redis.zadd(rediskeys.pair_saves_due(self.pair), due_at, xx=True)

    async def every_save_due_now(self) -> None:
        """Make every owed save due at once (a new term: what the last primary handed
        may never have reached the broker)."""
        key = rediskeys.pair_saves_due(self.pair)
        await self._redis.zunionstore(key, {key: 0})
