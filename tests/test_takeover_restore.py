"""A takeover restores the pair's open sessions from the live log, in-process
against real Redis: what it stores, in how many round trips, and that a fenced
writer stores nothing."""
import asyncio
import json

import pytest

from chat.livelog import SNAPSHOT_SEQ_FACT, Fenced, LiveLog, OpenSet, Queue
from chat.service import ChatService
from chat.session import SNAPSHOT_EVERY, ChatError, ChatSession
from chatsite import rediskeys

from .inprocess import ALICE, StandInInstance, client, new_pair, open_session, set_epoch

SESSIONS = 1000


async def logs(redis, sessions: list[ChatSession]) -> dict[str, list[dict]]:
    pipe = redis.pipeline(transaction=False)
    for session in sessions:
        pipe.lrange(rediskeys.session_log(session.id), 0, -1)
    return {s.id: [json.loads(e) for e in events] for s, events in zip(sessions, await pipe.execute(), strict=True)}


def test_a_takeover_marks_each_connected_participant_disconnected_once_with_the_next_seq(redis_url):
    async def scenario() -> None:
        redis, pair = client(redis_url), new_pair()
        await set_epoch(redis, pair, 1)
        log = LiveLog(redis, pair)
        # Of every six chats: three with alice, two of each three with carol still there.
        sessions = [
            await open_session(log, 1, agent=ALICE if n % 2 else None, customer_away=n % 3 == 0)
            for n in range(SESSIONS)
        ]
        before = await logs(redis, sessions)
        await set_epoch(redis, pair, 2)  # the backup claimed the lease

        instance = StandInInstance(redis, pair, epoch=2, **{"session-restoration-mode": "simple"})
        chats = ChatService(instance)
        hooked = []

        async def hook(session, event):
            hooked.append((session.id, event["seq"]))

        chats.stored_hooks.append(hook)
        await instance.listener.serve(2, takeover=True, previous="the old primary")

        after = await logs(redis, sessions)
        for old in sessions:
            added = after[old.id][len(before[old.id]):]
            assert [e["type"] for e in added] == ["disconnected"] * len(old.connected)
            assert {e["from"] for e in added} == old.connected
            assert [e["seq"] for e in added] == list(range(old.last_seq + 1, old.last_seq + len(added) + 1))
            restored = chats.sessions[old.id]
            assert restored.last_seq == len(after[old.id]) and restored.connected == set()
            assert set(restored.away_since) == old.connected | set(old.away_since)
        assert sorted(hooked) == sorted(
            (s.id, seq) for s in sessions for seq in range(len(before[s.id]) + 1, len(after[s.id]) + 1)
        )
        assert len(hooked) == sum(len(s.connected) for s in sessions)
        assert instance.fenced_at == []
        await redis.aclose()

    asyncio.run(scenario())


def test_with_restoration_off_a_takeover_closes_each_open_session(redis_url):
    async def scenario() -> None:
        redis, pair = client(redis_url), new_pair()
        await set_epoch(redis, pair, 1)
        log = LiveLog(redis, pair)
        sessions = [await open_session(log, 1, agent=ALICE), await open_session(log, 1)]
        await set_epoch(redis, pair, 2)

        instance = StandInInstance(redis, pair, epoch=2, **{"session-restoration-mode": "none"})
        chats = ChatService(instance)
        await instance.listener.serve(2, takeover=True, previous="")

        for events in (await logs(redis, sessions)).values():
            assert events[-1]["type"] == "closed" and events[-1]["reason"] == "not-restored"
        assert chats.sessions == {}
        assert await log.open_sessions() == set() and await log.queue() == []
        await redis.aclose()

    asyncio.run(scenario())


def test_a_batch_is_stored_as_appends_one_by_one_would_store_it(redis_url):
    async def scenario() -> None:
        redis, pair = client(redis_url), new_pair()
        await set_epoch(redis, pair, 1)
        log = LiveLog(redis, pair)
        first, second = await open_session(log, 1, agent=ALICE), await open_session(log, 1)
        third, _ = ChatSession.open("s3", pair, "Dave", "")
        stored = await log.append_many(1, [
            (first.message(ALICE, "one", "c1", 100), {"client_id": "c1"}),
            (second.closing("agent-closed"), {"open_set": OpenSet.CLOSE, "queue": Queue.REMOVE}),
            (third.joined(third.customer), {"open_set": OpenSet.OPEN, "queue": Queue.PUSH, "facts": third.facts()}),
            (first.message(ALICE, "one", "c1", 100), {"client_id": "c1"}),
        ])
        assert [(s.event["session_id"], s.event["seq"], s.duplicate) for s in stored] == [
            (first.id, 4, False), (second.id, 2, False), ("s3", 1, False), (first.id, 4, True),
        ]
        assert stored[3].event == stored[0].event
        assert await log.facts("s3") == third.facts()
        assert await log.open_sessions() == {first.id, "s3"} and await log.queue() == ["s3"]
        assert await log.append_many(1, []) == []
        await redis.aclose()

    asyncio.run(scenario())


def test_a_fenced_writers_batch_writes_nothing(redis_url):
    async def scenario() -> None:
        redis, pair = client(redis_url), new_pair()
        await set_epoch(redis, pair, 1)
        log = LiveLog(redis, pair)
        sessions = [await open_session(log, 1, agent=ALICE) for _ in range(3)]
        before = await logs(redis, sessions)
        await set_epoch(redis, pair, 3)  # another instance took over meanwhile

        with pytest.raises(Fenced) as refused:
            await log.append_many(1, [(s.disconnected(s.customer), {}) for s in sessions])
        assert refused.value.pair_epoch == 3
        assert await logs(redis, sessions) == before

        # A restoration at a stale epoch gives the role up and writes nothing either.
        instance = StandInInstance(redis, pair, epoch=2)
        chats = ChatService(instance)
        with pytest.raises(ChatError):
            await instance.listener.serve(2, takeover=True, previous="")
        assert instance.fenced_at == [3]
        assert await logs(redis, sessions) == before
        assert chats.sessions == {}
        await redis.aclose()

    asyncio.run(scenario())


def test_a_takeover_folds_a_long_chat_from_its_snapshot_and_the_events_after_it(redis_url):
    """The serving member keeps each session's state beside its log every
    SNAPSHOT_EVERY events; the next primary reads that and the log after it, and
    restores the same session its whole log folds to."""
    async def scenario() -> None:
        redis, pair = client(redis_url), new_pair()
        await set_epoch(redis, pair, 1)
        serving = ChatService(StandInInstance(redis, pair, epoch=1))
        session = await open_session(serving.messages.log, 1, agent=ALICE)
        serving.messages.replace([session], [])
        for n in range(2 * SNAPSHOT_EVERY + 3):
            who = session.customer if n % 2 else ALICE
            await serving.messages.store(session, session.message(who, f"message {n}", f"c{n}", 1000))
        meta = rediskeys.session_meta(session.id)
        snapshot_seq = session.last_seq - session.last_seq % SNAPSHOT_EVERY  # the last one kept
        await until_true(lambda: redis.hget(meta, SNAPSHOT_SEQ_FACT), str(snapshot_seq).encode())
        whole = [json.loads(e) for e in await redis.lrange(rediskeys.session_log(session.id), 0, -1)]

        [(facts, events)] = await LiveLog(redis, pair).sessions([session.id])
        assert [e["seq"] for e in events] == list(range(snapshot_seq + 1, len(whole) + 1))
        from_snapshot = ChatSession.rebuild(session.id, facts, events)
        from_whole_log = ChatSession.rebuild(session.id, session.facts(), whole)
        assert (from_snapshot.last_seq, from_snapshot.agent, from_snapshot.connected, from_snapshot.last_message_at,
                from_snapshot.customer_last_seq) == (
            from_whole_log.last_seq, from_whole_log.agent, from_whole_log.connected, from_whole_log.last_message_at,
            from_whole_log.customer_last_seq)

        await set_epoch(redis, pair, 2)
        taking_over = ChatService(StandInInstance(redis, pair, epoch=2, **{"session-restoration-mode": "simple"}))
        await taking_over.instance.listener.serve(2, takeover=True, previous="the old primary")
        restored = taking_over.sessions[session.id]
        assert restored.last_seq == len(whole) + len(session.connected)  # and its disconnected events
        assert restored.away_since.keys() == session.connected and restored.agent == ALICE

    asyncio.run(scenario())


async def until_true(read, expected, timeout: float = 5) -> None:
    """Until ``await read()`` gives ``expected``."""
    async with asyncio.timeout(timeout):
        while await read() != expected:
            await asyncio.sleep(0.01)


def test_a_snapshot_only_moves_forward_and_none_brings_back_a_session_that_is_gone(redis_url):
    """Snapshots of one turn go in one call; an earlier one (a late writer's) never
    replaces a later one, and a session whose keys expired gets no ghost meta."""
    async def scenario() -> None:
        redis, pair = client(redis_url), new_pair()
        await set_epoch(redis, pair, 1)
        log = LiveLog(redis, pair)
        session = await open_session(log, 1, agent=ALICE)
        meta = rediskeys.session_meta(session.id)
        later, earlier, gone = await asyncio.gather(
            log.keep_snapshot(session.id, 16, '{"seq": 16}'),
            log.keep_snapshot(session.id, 8, '{"seq": 8}'),
            log.keep_snapshot("no-such-session", 8, '{"seq": 8}'),
        )
        assert (later, earlier, gone) == (True, False, False)
        assert await redis.hget(meta, SNAPSHOT_SEQ_FACT) == b"16"
        assert not await redis.exists(rediskeys.session_meta("no-such-session"))

    asyncio.run(scenario())
