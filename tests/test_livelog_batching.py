"""Appends asked for in one turn of the event loop go to Redis together
(chat.livelog.LiveLog.append): each caller still gets its own event, fenced,
deduped and numbered as if it had been sent alone. In-process, real Redis."""
import asyncio
import json
import uuid

import pytest

from chat.livelog import Fenced, LiveLog, OpenSet, Queue
from chat.session import ChatSession
from chatsite import rediskeys

from .inprocess import set_epoch, with_live_log

SESSIONS = 600  # more than one script call's worth (APPEND_MANY_CHUNK) in one batch


async def started(log: LiveLog, epoch: int, n: int) -> list[ChatSession]:
    sessions = [ChatSession.open(uuid.uuid4().hex, log.pair, "Carol", "")[0] for _ in range(n)]
    stored = await asyncio.gather(*(
        log.append(epoch, s.joined(s.customer), open_set=OpenSet.OPEN, facts=s.facts()) for s in sessions
    ))
    for session, done in zip(sessions, stored, strict=True):
        session.apply(done.event)
    return sessions


def test_concurrent_appends_each_get_their_own_next_seq(redis_url):
    async def scenario(redis, log: LiveLog) -> None:
        sessions = await started(log, 1, SESSIONS)
        said = await asyncio.gather(*(
            log.append(1, s.message(s.customer, f"hello from {s.id}", f"cid-{s.id}", 100), client_id=f"cid-{s.id}")
            for s in sessions
        ))
        for session, stored in zip(sessions, said, strict=True):
            assert not stored.duplicate
            assert (stored.event["seq"], stored.event["text"]) == (2, f"hello from {session.id}")
        assert await redis.llen(rediskeys.session_log(sessions[-1].id)) == 2
        assert await redis.scard(rediskeys.pair_open_sessions(log.pair)) == SESSIONS

    with_live_log(redis_url, scenario, epoch=1)


def test_each_push_into_the_queue_answers_with_the_rank_the_queue_keeps(redis_url):
    """Batches in flight together: whatever order their answers come back in, each
    chat's rank is its place in the pair's queue in Redis (what a takeover restores)."""
    async def scenario(redis, log: LiveLog) -> None:
        sessions = [ChatSession.open(uuid.uuid4().hex, log.pair, "Carol", "")[0] for _ in range(200)]

        async def push(session: ChatSession) -> tuple[float | None, str]:
            stored = await log.append(1, session.joined(session.customer), open_set=OpenSet.OPEN,
                                      queue=Queue.PUSH, facts=session.facts())
            return stored.queue_rank, session.id

        first = [asyncio.ensure_future(push(s)) for s in sessions[:100]]
        await asyncio.sleep(0)  # the first batch goes out; the second is made while it is in flight
        await asyncio.sleep(0)
        ranked = await asyncio.gather(*first, *(push(s) for s in sessions[100:]))
        assert all(rank is not None for rank, _ in ranked)
        assert [session_id for _, session_id in sorted(ranked)] == await log.queue()
        assert sorted(rank for rank, _ in ranked) == [rank for _, rank in await log.ranked_queue()]

    with_live_log(redis_url, scenario, epoch=1)


def test_a_resent_message_in_a_batch_is_answered_with_the_original(redis_url):
    async def scenario(redis, log: LiveLog) -> None:
        [session] = await started(log, 1, 1)
        first = await log.append(1, session.message(session.customer, "once", "cid-1", 100), client_id="cid-1")
        [another] = await started(log, 1, 1)
        again, _ = await asyncio.gather(
            log.append(1, session.message(session.customer, "once", "cid-1", 100), client_id="cid-1"),
            log.append(1, another.message(another.customer, "meanwhile", "", 100)),
        )
        assert again.duplicate and again.event == first.event
        assert await redis.llen(rediskeys.session_log(session.id)) == 2

    with_live_log(redis_url, scenario, epoch=1)


def test_a_fenced_batch_writes_nothing_and_every_caller_hears_it(redis_url):
    async def scenario(redis, log: LiveLog) -> None:
        sessions = await started(log, 1, SESSIONS)
        await set_epoch(redis, log.pair, 2)  # the backup took over
        outcomes = await asyncio.gather(
            *(log.append(1, s.message(s.customer, "late", "", 100)) for s in sessions), return_exceptions=True
        )
        assert all(isinstance(outcome, Fenced) and outcome.pair_epoch == 2 for outcome in outcomes)
        pipe = redis.pipeline(transaction=False)
        for s in sessions:
            pipe.llen(rediskeys.session_log(s.id))
        assert set(await pipe.execute()) == {1}

    with_live_log(redis_url, scenario, epoch=1)


def test_appends_at_two_epochs_in_one_turn_are_judged_each_by_its_own(redis_url):
    async def scenario(redis, log: LiveLog) -> None:
        [old, new] = [ChatSession.open(uuid.uuid4().hex, log.pair, "Carol", "")[0] for _ in range(2)]
        stale, current = await asyncio.gather(
            log.append(1, old.joined(old.customer)), log.append(2, new.joined(new.customer)),
            return_exceptions=True,
        )
        assert isinstance(stale, Fenced)
        assert current.event["seq"] == 1

    with_live_log(redis_url, scenario, epoch=2)


@pytest.fixture(autouse=True)
def _redis(redis_url):
    """Every test here talks to the run's Redis, under its prefix."""


def test_appends_go_on_after_redis_forgot_its_scripts(redis_url):
    """A Redis restarted (or SCRIPT FLUSH) knows no script: the batch that hears
    NOSCRIPT loads it and is sent again, once, and nothing is stored twice."""
    async def scenario(redis, log: LiveLog) -> None:
        [session] = await started(log, 1, 1)
        await redis.script_flush()
        stored = await log.append(1, session.message(session.customer, "after the flush", "cid-f", 100),
                                  client_id="cid-f")
        assert (stored.event["seq"], stored.event["text"]) == (2, "after the flush")
        assert await redis.llen(rediskeys.session_log(session.id)) == 2

    with_live_log(redis_url, scenario, epoch=1)


def test_the_log_tells_an_internal_event_from_its_bytes_and_keeps_any_text_as_written(redis_url):
    """The append script tells an internal event from the first bytes of its JSON
    (chat.wire writes it): the customer's count skips it. Text of any script, and
    emoji, comes back from the log as it was written."""
    from chat.frames import Event

    async def scenario(redis, log: LiveLog) -> None:
        [session] = await started(log, 1, 1)
        coaching = await log.append(1, session.internal(Event.NOTICE, notice="coaching", text="只给坐席 \U0001F600"))
        said = await log.append(1, session.message(session.customer, "Grüße \u202e 👋", "cid", 100), client_id="cid")
        assert coaching.event["seq"] == 2 and "customer_seq" not in coaching.event
        assert (said.event["seq"], said.event["customer_seq"]) == (3, 2)
        assert [e["text"] for e in await log.events_after(session.id, 1)] == ["只给坐席 \U0001F600", "Grüße \u202e 👋"]

    with_live_log(redis_url, scenario)


def test_a_frame_with_a_lone_surrogate_is_still_sent_escaped():
    """No checked input holds a lone surrogate, but an error frame may echo one:
    its text is the standard library's escape, not a failed send."""
    from chat.wire import frame_text

    assert json.loads(frame_text({"type": "error", "message": "bad \ud800"})) == {"type": "error",
                                                                                  "message": "bad \ud800"}
    assert frame_text({"type": "message", "text": "é"}) == '{"type":"message","text":"é"}'
