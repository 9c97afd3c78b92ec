"""An append is sent only once a Redis replica holds it (chat.replication, issue
11): unit tests of the rule, and the live log against a real master and replica."""
from __future__ import annotations

import asyncio
import signal

import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from chat.livelog import LiveLog
from chat.replication import DEGRADED_S, ReplicaAcks
from chatsite import rediskeys
from chatsite.sentinelstack import SentinelSetup

from .inprocess import new_pair, open_session, set_epoch
from .sentinel import sentinel_redis  # noqa: F401 (a fixture)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def unreplicated() -> float:
    return REGISTRY.get_sample_value("chat_appends_unreplicated_total") or 0.0


def test_a_batch_the_replicas_held_in_time_counts_as_safe():
    acks = ReplicaAcks(1, 200, Clock())
    before = unreplicated()
    assert acks.wait_now()
    acks.acknowledged(1, events=3)
    assert acks.wait_now() and unreplicated() == before


def test_a_wait_that_timed_out_is_counted_and_the_next_batches_do_not_wait_for_a_while():
    clock = Clock()
    acks = ReplicaAcks(1, 200, clock)
    before = unreplicated()
    acks.acknowledged(0, events=3)
    assert unreplicated() == before + 3
    assert not acks.wait_now()
    acks.unwaited(2)
    assert unreplicated() == before + 5
    clock.now += DEGRADED_S
    assert acks.wait_now()
    acks.acknowledged(1, events=1)
    assert acks.wait_now() and unreplicated() == before + 5


def test_with_no_replica_asked_for_nothing_waits_and_nothing_is_counted():
    acks = ReplicaAcks(0, 200, Clock())
    before = unreplicated()
    assert not acks.wait_now()
    acks.unwaited(10)
    assert unreplicated() == before


def test_the_replica_holds_every_event_the_live_log_has_sent_and_a_stopped_one_is_counted(
    sentinel_redis: SentinelSetup,  # noqa: F811
):
    master_port, replica_port = sentinel_redis.redis_ports
    replica_process = sentinel_redis.processes[f"redis-{replica_port}"]

    async def scenario() -> None:
        master = aioredis.Redis(host="127.0.0.1", port=master_port)
        replica = aioredis.Redis(host="127.0.0.1", port=replica_port)
        pair = new_pair()
        await set_epoch(master, pair, 1)
        log = LiveLog(master, pair, ReplicaAcks(1, 300))
        try:
            session = await open_session(log, 1)
            for n in range(20):
                stored = await log.append(1, session.event("notice", notice=f"n{n}"))
                session.apply(stored.event)
                # Sent means held by the replica: it has the event already, no waiting.
                assert await replica.llen(rediskeys.session_log(session.id)) == stored.event["seq"]

            before = unreplicated()
            replica_process.send_signal(signal.SIGSTOP)
            try:
                stored = await log.append(1, session.event("notice", notice="while the replica sleeps"))
            finally:
                replica_process.send_signal(signal.SIGCONT)
            assert stored.event["seq"] == session.last_seq + 1, "the chat goes on without the replica"
            assert unreplicated() == before + 1, "what a failover then could lose is counted"
        finally:
            await master.aclose()
            await replica.aclose()

    asyncio.run(scenario())


def test_a_term_begins_once_a_replica_holds_its_epoch_or_is_counted_when_none_does(
        sentinel_redis: SentinelSetup, make_application, start_server):  # noqa: F811
    """The first primary's epoch is on the replica before it serves; a takeover while
    the replica sleeps still serves (the pair is never left with no primary), and is
    counted in chat_epochs_unreplicated_total for the operator."""
    import redis as syncredis

    from .harness import wait_for
    from .test_failover import HA_OPTIONS, figure, scrape, topology

    env = sentinel_redis.env()
    name = f"pair-{new_pair()[5:]}"
    primary = start_server(make_application(f"{name}-a", pair=name, role="primary", **HA_OPTIONS), **env)
    backup = start_server(make_application(f"{name}-b", pair=name, role="backup", **HA_OPTIONS),
                          serving=False, **env)
    wait_for(lambda: topology(backup)["self"]["role"] == "backup", 10, "the backup to be backup")
    replica_port = sentinel_redis.redis_ports[1]
    with syncredis.Redis(host="127.0.0.1", port=replica_port) as replica:
        assert int(replica.get(rediskeys.pair_epoch(name))) == 1
    assert figure(scrape(primary), "chat_epochs_unreplicated_total") == 0

    replica_process = sentinel_redis.processes[f"redis-{replica_port}"]
    replica_process.send_signal(signal.SIGSTOP)
    try:
        primary.kill()
        backup.wait_serving()
    finally:
        replica_process.send_signal(signal.SIGCONT)
    assert topology(backup)["epoch"] == 2
    assert figure(scrape(backup), "chat_epochs_unreplicated_total") == 1
