"""The pair on Redis Sentinel: the Redis master killed mid-chat (issue 11)."""
from __future__ import annotations

import logging
import time

from chatsite.sentinelstack import SentinelSetup

from .harness import http_get, wait_for
from .redis_outage import RIDE_THROUGH_S, deliver
from .sentinel import sentinel_redis  # noqa: F401 (a fixture)
from .test_failover import HA_OPTIONS, assert_each_once_in_order, chat, messages, topology, transcript_messages  # noqa: F401

logger = logging.getLogger(__name__)


def serving(*servers) -> list[str]:
    return [server.name for server in servers if http_get(f"{server.http}/readyz")[0] == 200]


def test_the_chat_goes_on_through_the_promoted_replica_when_the_redis_master_is_killed(
        sentinel_redis: SentinelSetup, make_application, start_server, start_worker, chat):  # noqa: F811
    env = sentinel_redis.env()
    name = f"pair-{time.monotonic_ns() % 10**8}"
    primary = start_server(make_application(f"{name}-a", pair=name, role="primary", **HA_OPTIONS), **env)
    backup = start_server(make_application(f"{name}-b", pair=name, role="backup", **HA_OPTIONS),
                          serving=False, **env)
    start_worker(**env)
    wait_for(lambda: topology(backup)["self"]["role"] == "backup", 10, "the backup to be backup")
    carol, alice, session_id = chat(primary, backup)
    for n in range(3):
        carol.say(f"before {n}")
        alice.say(f"agent before {n}", session_id)
    carol.drain_until_acked()
    alice.drain_until_acked()
    epoch_before = topology(primary)["epoch"]

    old_master = sentinel_redis.master_port()
    sentinel_redis.kill_redis(old_master)
    carol.say("during 1")
    wait_for(lambda: sentinel_redis.master_port() not in (None, old_master), RIDE_THROUGH_S,
             "the sentinels to promote the replica")
    deliver(carol)
    deliver(alice)
    carol.say("after 1")
    alice.say("agent after 1", session_id)
    deliver(carol)
    deliver(alice)
    carol.sees(session_id, "agent after 1")
    alice.sees(session_id, "after 1")

    from_carol = ["before 0", "before 1", "before 2", "during 1", "after 1"]
    from_alice = ["agent before 0", "agent before 1", "agent before 2", "agent after 1"]
    for participant in (carol, alice):
        assert_each_once_in_order(participant, session_id, from_carol, from_alice)
    assert messages(carol, session_id) == messages(alice, session_id)
    wait_for(lambda: len(serving(primary, backup)) == 1, 10, "exactly one member to serve")
    after = topology(backup)
    assert after["epoch"] >= epoch_before
    assert topology(primary)["primary"]["name"] == after["primary"]["name"] == serving(primary, backup)[0]
    logger.warning("after the Redis failover: %s serves at epoch %d (was %s at epoch %d); events: %s",
                   after["primary"]["name"], after["epoch"], primary.name, epoch_before,
                   [(e["seq"], e["type"], e.get("text") or e.get("role")) for e in carol.events(session_id)])
    assert transcript_messages(session_id, carol.last_seq(session_id)) == messages(carol, session_id)


def test_after_a_redis_failover_a_killed_chat_primary_is_still_replaced_with_nothing_lost(
        sentinel_redis: SentinelSetup, make_application, start_server, chat):  # noqa: F811
    """The pair's own failover still works on the promoted replica: the serving
    member killed after the Redis master moved, the other takes over at a higher
    epoch, the chat goes on, each message once."""
    env = sentinel_redis.env()
    name = f"pair-{time.monotonic_ns() % 10**8}"
    first = start_server(make_application(f"{name}-a", pair=name, role="primary", **HA_OPTIONS), **env)
    second = start_server(make_application(f"{name}-b", pair=name, role="backup", **HA_OPTIONS),
                          serving=False, **env)
    wait_for(lambda: topology(second)["self"]["role"] == "backup", 10, "the backup to be backup")
    carol, alice, session_id = chat(first, second)
    carol.say("before")
    carol.drain_until_acked()

    old_master = sentinel_redis.master_port()
    sentinel_redis.kill_redis(old_master)
    carol.say("during the Redis failover")
    wait_for(lambda: sentinel_redis.master_port() not in (None, old_master), RIDE_THROUGH_S,
             "the sentinels to promote the replica")
    deliver(carol)
    deliver(alice)
    wait_for(lambda: len(serving(first, second)) == 1, RIDE_THROUGH_S, "one member to serve")
    epoch_after_redis = topology(second)["epoch"]
    serving_member = first if serving(first, second) == [first.name] else second
    other = second if serving_member is first else first
    wait_for(lambda: topology(other)["self"]["role"] == "backup", 10, "the other member to be backup")

    serving_member.kill()
    other.wait_serving(timeout=RIDE_THROUGH_S)
    carol.say("after the chat primary died")
    alice.say("agent after", session_id)
    deliver(carol)
    deliver(alice)
    alice.sees(session_id, "after the chat primary died")
    carol.sees(session_id, "agent after")

    for participant in (carol, alice):
        assert_each_once_in_order(participant, session_id,
                                  ["before", "during the Redis failover", "after the chat primary died"],
                                  ["agent after"])
    assert messages(carol, session_id) == messages(alice, session_id)
    assert topology(other)["epoch"] > epoch_after_redis
    assert serving(first, second) == [other.name]


def test_with_a_lease_longer_than_the_redis_failover_the_members_keep_their_roles(
        sentinel_redis: SentinelSetup, make_application, start_server, chat):  # noqa: F811
    """ha-lease-ttl-ms above the time Sentinel takes to promote the replica: the
    primary renews on the new master before its lease runs out and keeps serving
    at the same epoch; the backup does not take over, though the primary's old
    Redis connection id means nothing on the new master (ha.lease.connected)."""
    env = sentinel_redis.env()
    name = f"pair-{time.monotonic_ns() % 10**8}"
    options = {**HA_OPTIONS, "ha_lease_ttl_ms": "8000"}
    primary = start_server(make_application(f"{name}-a", pair=name, role="primary", **options), **env)
    backup = start_server(make_application(f"{name}-b", pair=name, role="backup", **options),
                          serving=False, **env)
    wait_for(lambda: topology(backup)["self"]["role"] == "backup", 10, "the backup to be backup")
    carol, alice, session_id = chat(primary, backup)
    carol.say("before")
    carol.drain_until_acked()
    epoch_before = topology(primary)["epoch"]

    old_master = sentinel_redis.master_port()
    sentinel_redis.kill_redis(old_master)
    wait_for(lambda: sentinel_redis.master_port() not in (None, old_master), RIDE_THROUGH_S,
             "the sentinels to promote the replica")
    carol.say("after the Redis failover")
    deliver(carol)
    alice.sees(session_id, "after the Redis failover")

    assert serving(primary, backup) == [primary.name]
    assert topology(primary)["epoch"] == epoch_before, "the pair moved its primary"
    assert topology(backup)["self"]["role"] == "backup"
    assert carol.connected_to == primary.ws
    assert_each_once_in_order(carol, session_id, ["before", "after the Redis failover"])
