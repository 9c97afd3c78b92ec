"""The due-save record in Redis (chat.livelog), in-process: the append that stores an
event marks its save owed, only a save that reached it takes the mark away, a
closed session's log is kept until then, and the sweeper hands what came due."""
from __future__ import annotations

import asyncio
import functools

from chat.livelog import LiveLog, OpenSet, Queue
from chat.service import ChatService
from chatsite import rediskeys
from transcripts import due
from transcripts.live import TranscriptSaves
from transcripts.sweeper import SaveSweeper

from ..inprocess import ALICE, StandInInstance, client, new_pair, open_session, set_epoch, with_live_log

CLOSING = {"open_set": OpenSet.CLOSE, "queue": Queue.REMOVE}


async def owed(redis, pair: str) -> dict[str, tuple[int, float, float]]:
    """Each owed session: (seq owed, since, due)."""
    upto = await redis.hgetall(rediskeys.pair_saves_upto(pair))
    since = dict(await redis.zrange(rediskeys.pair_saves_owed(pair), 0, -1, withscores=True))
    due_at = dict(await redis.zrange(rediskeys.pair_saves_due(pair), 0, -1, withscores=True))
    return {sid.decode(): (int(seq), since[sid], due_at[sid]) for sid, seq in upto.items()}


async def redis_now(redis) -> float:
    seconds, micros = await redis.time()
    return seconds + micros / 1e6


def test_a_close_owes_the_final_save_and_keeps_the_log_until_a_save_reaches_it(redis_url):
    async def scenario(redis, log: LiveLog) -> None:
        session = await open_session(log, 1, agent=ALICE)
        closed = (await log.append(1, session.closing("customer-left"), **CLOSING, save_after=7)).event
        [(seq, since, due_at)] = (await owed(redis, log.pair)).values()
        assert seq == closed["seq"] and abs(due_at - since - 7) < 0.01
        assert await redis.ttl(rediskeys.session_log(session.id)) == -1

        assert await log.saved(session.id, closed["seq"] - 1) == closed["seq"]  # a save that fell short
        assert await owed(redis, log.pair) != {}
        assert await redis.ttl(rediskeys.session_log(session.id)) == -1

        assert await log.saved(session.id, closed["seq"]) == 0
        assert await owed(redis, log.pair) == {}
        for key in (rediskeys.session_log, rediskeys.session_client_ids, rediskeys.session_meta):
            assert await redis.ttl(key(session.id)) > 0 or not await redis.exists(key(session.id))
        assert await redis.ttl(rediskeys.session_log(session.id)) > 0

    with_live_log(redis_url, scenario)


def test_later_events_raise_the_seq_owed_and_push_the_sweepers_time_out_never_in(redis_url):
    async def scenario(redis, log: LiveLog) -> None:
        session = await open_session(log, 1, agent=ALICE)
        first = (await log.append(1, session.message(ALICE, "one", "", 100), save_after=30)).event
        [(_, since, due_at)] = (await owed(redis, log.pair)).values()
        second = (await log.append(1, session.message(ALICE, "two", "", 100), save_after=1)).event
        [(seq, since_now, due_now)] = (await owed(redis, log.pair)).values()
        assert (seq, since_now, due_now) == (second["seq"], since, due_at)  # owed since the first

        await log.saved(session.id, first["seq"])  # progress: owed since now, still up to the second
        [(seq, since_now, _)] = (await owed(redis, log.pair)).values()
        assert seq == second["seq"] and since_now >= since
        assert await redis.ttl(rediskeys.session_log(session.id)) == -1  # open: no expiry at all

    with_live_log(redis_url, scenario)


def test_a_session_closed_with_nothing_owed_expires_at_once_and_a_gone_log_drops_its_mark(redis_url):
    async def scenario(redis, log: LiveLog) -> None:
        unwired = await open_session(log, 1)
        await log.append(1, unwired.closing("customer-left"), **CLOSING)
        assert await redis.ttl(rediskeys.session_log(unwired.id)) > 0
        assert await owed(redis, log.pair) == {}

        gone = await open_session(log, 1)
        await log.append(1, gone.closing("customer-left"), **CLOSING, save_after=5)
        assert await log.saved(gone.id, 0, gone=True) == 0
        assert await owed(redis, log.pair) == {}

    with_live_log(redis_url, scenario)


def test_the_sweeper_hands_what_came_due_backs_off_and_a_new_term_makes_everything_due(redis_url):
    async def scenario(redis, log: LiveLog) -> None:
        instance = StandInInstance(redis, log.pair, epoch=1)
        handed: list[list[tuple[str, float]]] = []
        sweeper = SaveSweeper(instance, log, handed.append)
        late = await open_session(log, 1)
        await log.append(1, late.closing("customer-left"), **CLOSING, save_after=0)
        fresh = await open_session(log, 1)
        await log.append(1, fresh.closing("customer-left"), **CLOSING, save_after=3600)

        before = await redis_now(redis)
        resends = await sweeper.sweep()
        assert [(r.session_id, r.wait) for r in resends] == [(late.id, due.MIN_RESEND_S)]
        assert handed == [[(late.id, due.MIN_RESEND_S)]]
        # Backed off: due again only once its wait is over.
        assert (await owed(redis, log.pair))[late.id][2] >= before + due.MIN_RESEND_S

        await log.saved(late.id, late.last_seq + 1)
        await log.every_save_due_now()  # a takeover: what the last term left owed is due at once
        assert [r.session_id for r in await sweeper.sweep()] == [fresh.id]

    with_live_log(redis_url, scenario)


def test_a_takeover_hands_and_owes_the_final_saves_of_the_chats_it_closes(redis_url):
    """session-restoration-mode none: the pair itself closes the chats (not-restored);
    each closed event is stored with its save owed, and the save is handed at once.
    What the last term left owed is due to the sweeper at once."""

    async def scenario() -> None:
        redis, pair = client(redis_url), new_pair()
        await set_epoch(redis, pair, 1)
        log = LiveLog(redis, pair)
        sessions = [await open_session(log, 1, agent=ALICE), await open_session(log, 1)]
        left_owed = await open_session(log, 1)
        await log.append(1, left_owed.closing("customer-left"), **CLOSING, save_after=3600)
        await set_epoch(redis, pair, 2)

        instance = StandInInstance(redis, pair, epoch=2, **{"session-restoration-mode": "none"})
        chats = ChatService(instance)
        saves = TranscriptSaves(chats)
        handed: list[str] = []
        saves._hand_off = lambda session_id, *args, **kwargs: handed.append(session_id)
        await instance.listener.serve(2, takeover=True, previous="")
        await asyncio.get_running_loop().run_in_executor(saves._sender, functools.partial(lambda: None))

        assert sorted(handed) == sorted(s.id for s in sessions)
        record = await owed(redis, pair)
        assert {sid: seq for sid, (seq, _, _) in record.items()} == {
            s.id: s.last_seq + 1 for s in [*sessions, left_owed]}
        assert record[left_owed.id][2] == 0  # the last term's: due to the sweeper at once
        assert all(record[s.id][2] > 0 for s in sessions)  # this term's own wait their time
        for session in sessions:
            assert await redis.ttl(rediskeys.session_log(session.id)) == -1
        await redis.aclose()

    asyncio.run(scenario())
