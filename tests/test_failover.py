"""The HA pair with real processes: kill -9, restart, SIGSTOP, switchover."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from websockets.exceptions import ConnectionClosed

from ha.models import Application

from .conftest import REDIS_PREFIX, run_switchover
from .harness import ROOT, Participant, child_env, customer_starts, http_get, ready_agent, wait_for

HA_OPTIONS = {"session_restoration_mode": "simple", "transcript_auto_save": "1",
              "transcript_save_on_error": "close"}


@pytest.fixture
def pair(make_application, start_server):
    """A primary and its backup, both running, the primary serving."""
    name = f"pair-{time.monotonic_ns() % 10**8}"

    def start(*, hooks: bool = False, **options: str):
        options = {**HA_OPTIONS, **options}
        primary_app = make_application(f"{name}-a", pair=name, role="primary", **options)
        backup_app = make_application(f"{name}-b", pair=name, role="backup", **options)
        env = {"CHAT_TEST_HOOKS": "1"} if hooks else {}
        primary = start_server(primary_app, **env)
        backup = start_server(backup_app, serving=False, **env)
        wait_for(lambda: topology(backup)["self"]["role"] == "backup", 10, "the backup to be backup")
        return primary, backup

    return start


def topology(server) -> dict:
    status, body = http_get(f"{server.http}/api/ha/topology")
    assert status == 200
    return json.loads(body)


@pytest.fixture
def chat(agent_cookie, clients):
    """A customer and an agent chatting through the pair, as Participants."""
    made: list[Participant] = []

    def start(primary, backup) -> tuple[Participant, Participant, str]:
        servers = [primary.ws, backup.ws]
        alice = ready_agent(servers, agent_cookie("alice"))
        made.append(alice)
        carol, session_id = customer_starts(servers)
        made.append(carol)
        alice.until(type="assigned")
        alice.until(type="joined", role="agent")  # the history that follows assigned
        return carol, alice, session_id

    yield start
    for participant in made:
        participant.close()


def messages(participant: Participant, session_id: str) -> list[str]:
    return [e["text"] for e in participant.events(session_id) if e["type"] == "message"]


def assert_each_once_in_order(participant: Participant, session_id: str, *by_sender: list[str]) -> None:
    """Every message once, with no gap in seq, each sender's in the order it sent them."""
    events = participant.events(session_id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), "a gap in seq"
    got = messages(participant, session_id)
    assert Counter(got) == Counter(t for texts in by_sender for t in texts), f"lost or doubled: {got}"
    for texts in by_sender:
        assert [t for t in got if t in texts] == texts, f"out of order: {got}"


def transcript_messages(session_id: str, seqs: int) -> list[str]:
    """The saved transcript's message texts, in seq order, once saved up to ``seqs``."""
    from transcripts.models import Transcript

    transcript = wait_for(
        lambda: Transcript.objects.filter(session_id=session_id, saved_seq__gte=seqs).first(), 15,
        f"the transcript of {session_id} saved up to seq {seqs}",
    )
    events = list(transcript.events.order_by("seq"))
    return [e.data["text"] for e in events if e.type == "message"]


def test_the_backup_takes_over_a_killed_primary_and_the_chat_goes_on(pair, chat, worker):
    primary, backup = pair()
    carol, alice, session_id = chat(primary, backup)
    for n in range(3):
        carol.say(f"before {n}")
        alice.say(f"agent before {n}", session_id)
    carol.drain_until_acked()
    alice.drain_until_acked()

    primary.kill(signal.SIGKILL)
    killed = time.monotonic()
    carol.say("during 1")
    alice.say("agent during 1", session_id)
    backup.wait_serving(timeout=5)
    took = time.monotonic() - killed
    assert took < 3, f"the backup served {took:.1f}s after the kill"

    assert carol.connect()["epoch"] == topology(backup)["epoch"]
    alice.connect()
    alice.send(type="ready")
    assert carol.connected_to == backup.ws
    carol.say("after 1")
    alice.say("agent after 1", session_id)
    carol.drain_until_acked()
    alice.drain_until_acked()
    carol.sees(session_id, "agent after 1")
    alice.sees(session_id, "after 1")

    from_carol = ["before 0", "before 1", "before 2", "during 1", "after 1"]
    from_alice = ["agent before 0", "agent before 1", "agent before 2", "agent during 1", "agent after 1"]
    for participant in (carol, alice):
        assert_each_once_in_order(participant, session_id, from_carol, from_alice)
        kinds = [(e["type"], e.get("role")) for e in participant.events(session_id)]
        for role in ("customer", "agent"):
            assert ("disconnected", role) in kinds and ("reconnected", role) in kinds
    assert messages(carol, session_id) == messages(alice, session_id)
    assert topology(backup)["primary"]["name"] == backup.name
    assert transcript_messages(session_id, carol.last_seq(session_id)) == messages(carol, session_id)


def test_a_restarted_primary_comes_back_as_backup_and_takes_over_again(pair, chat, start_server):
    primary, backup = pair()
    carol, alice, session_id = chat(primary, backup)
    carol.say("one")
    carol.drain_until_acked()

    primary.kill()
    backup.wait_serving()
    restarted = start_server(Application.objects.get(name=primary.name), serving=False)
    wait_for(lambda: topology(restarted)["self"]["role"] == "backup", 5, "the restarted primary to be backup")
    assert http_get(f"{restarted.http}/readyz")[0] == 503
    carol.connect()
    carol.say("two")
    carol.drain_until_acked()

    backup.kill()
    restarted.wait_serving(timeout=5)
    carol.connect()
    carol.say("three")
    carol.drain_until_acked()
    alice.connect()
    alice.sees(session_id, "three")
    assert_each_once_in_order(carol, session_id, ["one", "two", "three"])
    assert topology(restarted)["epoch"] == 3


def test_a_paused_primary_that_wakes_up_after_the_takeover_writes_nothing(pair, chat, redis_client):
    primary, backup = pair()
    carol, _, session_id = chat(primary, backup)
    stale = carol.client  # still connected to the paused primary
    carol.say("before pause")
    carol.drain_until_acked()

    primary.kill(signal.SIGSTOP)
    backup.wait_serving(timeout=5)
    carol.client = None
    carol.connect()
    carol.say("through the backup")
    carol.drain_until_acked()
    from chatsite import rediskeys

    log_key = rediskeys.session_log(session_id)
    length = redis_client.llen(log_key)

    stale.send(type="message", text="to the stale primary", client_id="stale-1")
    primary.kill(signal.SIGCONT)
    answer = stale.recv(timeout=5)
    assert answer["type"] == "not-primary"
    assert answer.get("primary") in (backup.ws, None)
    time.sleep(1)  # give a stale primary every chance to write
    assert redis_client.llen(log_key) == length
    assert "to the stale primary" not in redis_client.lrange(log_key, 0, -1).__str__()
    assert http_get(f"{primary.http}/readyz")[0] == 503
    assert topology(primary)["self"]["role"] == "backup"


def test_a_switchover_with_messages_in_flight_loses_nothing(pair, chat, redis_url, worker):
    primary, backup = pair()
    carol, alice, session_id = chat(primary, backup)
    carol.say("before")
    carol.drain_until_acked()

    switching = subprocess.Popen(
        [sys.executable, "manage.py", "ha_switchover", topology(primary)["pair"]], cwd=ROOT,
        env=child_env(redis_url, REDIS_PREFIX), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    sent = []
    deadline = time.monotonic() + 10
    while switching.poll() is None and time.monotonic() < deadline:
        sent.append(f"in flight {len(sent)}")
        carol.say(sent[-1])
        for participant in (carol, alice):
            participant.keep_up()  # following the switchover as the pages do
        time.sleep(0.05)
    output = switching.communicate(timeout=20)[0]
    assert switching.returncode == 0, output
    assert backup.name in output

    for participant in (carol, alice):
        if participant.connected_to != backup.ws:
            participant.connect()
    carol.say("after")
    carol.drain_until_acked()
    alice.sees(session_id, "after")
    assert_each_once_in_order(carol, session_id, ["before", *sent, "after"])
    assert_each_once_in_order(alice, session_id, ["before", *sent, "after"])
    notices = [e for e in carol.events(session_id) if e.get("notice") == "switchover"]
    assert notices and notices[0]["primary"] == backup.ws
    for participant in (carol, alice):
        assert "disconnected" not in [e["type"] for e in participant.events(session_id)]
    assert topology(primary)["self"]["role"] == "backup"
    assert http_get(f"{backup.http}/readyz")[0] == 200
    assert transcript_messages(session_id, carol.last_seq(session_id)) == messages(carol, session_id)


def test_a_switchover_without_a_live_backup_fails_with_a_reason(make_application, start_server, redis_url):
    app = make_application(pair="lonely")
    start_server(app)
    result = run_switchover("lonely", redis_url)
    assert result.returncode != 0
    assert "no live backup" in result.stderr


def test_with_restoration_off_the_sessions_of_a_dead_primary_end_with_a_reason(pair, chat):
    primary, backup = pair(session_restoration_mode="none")
    carol, _, _ = chat(primary, backup)
    carol.say("hello")
    carol.drain_until_acked()
    primary.kill()
    backup.wait_serving()
    carol.connect()
    closed = carol.until(type="closed")
    assert closed["reason"] == "not-restored"
    carol.say("anyone?")
    assert carol.until(type="error")["code"] in ("session-closed", "not-yours")


def test_ha_status_prints_roles_epoch_and_sessions(pair, chat, redis_url):
    primary, backup = pair()
    chat(primary, backup)
    result = subprocess.run(
        [sys.executable, "manage.py", "ha_status", topology(primary)["pair"], "--json"], cwd=ROOT,
        env=child_env(redis_url, REDIS_PREFIX), capture_output=True, text=True, timeout=30,
    )
    status = json.loads(result.stdout)
    roles = {m["name"]: (m["role"], m["alive"]) for m in status["instances"]}
    assert roles == {primary.name: ("primary", True), backup.name: ("backup", True)}
    assert status["epoch"] == 1 and status["open_sessions"] == 1


def test_a_backup_refuses_sockets_with_the_primarys_address(pair):
    from .harness import Client

    primary, backup = pair()
    client = Client.open(f"{backup.ws}/ws/chat/")
    frame = client.recv()
    assert frame == {"type": "not-primary", "primary": primary.ws}
    with pytest.raises(ConnectionClosed):
        client.recv()
    assert client.ws.close_code == 4010
    assert http_get(f"{backup.http}/readyz")[0] == 503
    assert topology(backup)["backup"]["name"] == backup.name


def test_queued_chats_survive_a_failover_and_go_to_the_next_agent(pair, agent_cookie):
    primary, backup = pair()
    servers = [primary.ws, backup.ws]
    carol = Participant(servers, "/ws/chat/")
    carol.connect()
    carol.send(type="start", nickname="Carol")
    started = carol.until(type="started")
    assert carol.until(type="notice")["notice"] == "queued"

    primary.kill()
    backup.wait_serving()
    alice = Participant(servers, "/ws/agent/", cookie=agent_cookie("alice"))
    alice.connect()
    alice.send(type="ready")
    assert alice.until(type="assigned")["session_id"] == started["session_id"]
    carol.close()


def test_a_participant_that_never_comes_back_after_a_failover_has_left(pair, chat):
    primary, backup = pair(participant_return_timeout="1")
    carol, alice, _ = chat(primary, backup)
    carol.say("bye for now")
    carol.drain_until_acked()

    primary.kill()
    backup.wait_serving()
    alice.connect()  # the agent comes back, the customer does not
    left = alice.until(type="left", timeout=10)
    assert left["role"] == "customer"
    assert alice.until(type="closed")["reason"] == "customer-left"


@pytest.mark.parametrize("outage", ["cut", "stall"])
def test_a_primary_cut_from_redis_stops_serving_and_the_backup_takes_over(chat, make_application,
                                                                           start_server, redis_url, outage):
    """Whether Redis refuses the primary's connections (cut) or stops answering
    on them (stall, a partition), the primary closes its sockets within the lease."""
    from urllib.parse import urlparse

    from .proxy import CuttableProxy

    target = urlparse(redis_url)
    proxy = CuttableProxy((target.hostname, target.port or 6379))
    name = f"cut-{time.monotonic_ns() % 10**8}"
    primary = start_server(make_application(f"{name}-a", pair=name, **HA_OPTIONS),
                           REDIS_URL=f"redis://127.0.0.1:{proxy.port}{target.path}")
    backup = start_server(make_application(f"{name}-b", pair=name, role="backup", **HA_OPTIONS), serving=False)
    carol, alice, session_id = chat(primary, backup)
    carol.say("before the cut")
    carol.drain_until_acked()

    getattr(proxy, outage)()
    cut = time.monotonic()
    frame = carol.until(type="not-primary", timeout=5)
    assert time.monotonic() - cut < 3, "the cut primary served on past its lease"
    assert frame["type"] == "not-primary"
    backup.wait_serving(timeout=5)
    carol.connect()
    alice.connect()
    carol.say("through the backup")
    carol.drain_until_acked()
    alice.sees(session_id, "through the backup")

    proxy.restore()
    time.sleep(1)  # two lease rounds with Redis back: it must stay backup
    assert http_get(f"{primary.http}/readyz")[0] == 503
    assert topology(backup)["primary"]["name"] == backup.name
    assert_each_once_in_order(carol, session_id, ["before the cut", "through the backup"])
    proxy.close()


def stall_event_loop(server, seconds: float, *, busy: bool = False) -> threading.Thread:
    """Block ``server``'s event loop for ``seconds`` (its CHAT_TEST_HOOKS stall view),
    or keep it working on one turn that long (``busy``)."""
    url = f"{server.http}/_test/stall?seconds={seconds}&busy={int(busy)}"
    stalling = threading.Thread(target=http_get, args=(url, seconds + 10))
    stalling.start()
    return stalling


def lease_ttl_ms(redis_client, pair_name: str) -> int:
    from chatsite import rediskeys

    return redis_client.pttl(rediskeys.pair_lease(pair_name))


def lease_holder(redis_client, pair_name: str) -> str | None:
    from chatsite import rediskeys

    return redis_client.get(rediskeys.pair_lease(pair_name))


@pytest.mark.parametrize(("seconds", "busy"), [(0.7, False), (2.5, True)], ids=["stalled-0.7s", "busy-2.5s"])
def test_an_event_loop_stalled_shorter_than_the_lease_or_busy_for_longer_keeps_the_role(
    pair, chat, redis_client, seconds, busy
):
    """A briefly stuck loop (0.7 s of a 1.5 s lease) costs the primary nothing: its
    lease is renewed on a thread of its own. Nor does one turn of the loop that
    works for 2.5 s without running a timer (a takeover's reconnect storm on a
    slow machine): busy, not stuck. The chat goes on on the same sockets."""
    primary, backup = pair(hooks=True)
    carol, alice, session_id = chat(primary, backup)
    pair_name = topology(primary)["pair"]

    stall_event_loop(primary, seconds, busy=busy).join()
    # Renewed after the stall: the lease is still the primary's once the TTL it
    # had when the stall ended has run out.
    expiry = time.monotonic() + lease_ttl_ms(redis_client, pair_name) / 1000
    wait_for(lambda: time.monotonic() > expiry and lease_holder(redis_client, pair_name) == primary.name,
             5, "a renewal after the stall")
    carol.say("after the stall")
    carol.drain_until_acked()
    alice.sees(session_id, "after the stall")
    assert carol.connected_to == primary.ws
    assert topology(primary)["epoch"] == 1
    assert topology(backup)["self"]["role"] == "backup"
    assert "no longer primary" not in primary.log()


def test_an_event_loop_stuck_for_longer_than_the_lease_loses_the_role_and_writes_nothing_after(
    pair, chat, redis_client
):
    primary, backup = pair(hooks=True)
    carol, _, session_id = chat(primary, backup)
    stale = carol.client
    carol.say("before the stall")
    carol.drain_until_acked()
    from chatsite import rediskeys

    log_key = rediskeys.session_log(session_id)
    stalling = stall_event_loop(primary, 4)
    backup.wait_serving(timeout=10)
    length = redis_client.llen(log_key)  # the takeover's disconnected events are in
    stale.send(type="message", text="to the stuck primary", client_id="stuck-1")
    stalling.join()
    assert stale.until(type="not-primary", timeout=5)["type"] == "not-primary"
    assert http_get(f"{primary.http}/readyz")[0] == 503
    carol.client = None
    carol.connect()
    carol.say("through the backup")
    carol.drain_until_acked()
    texts = [e.get("text") for e in carol.events(session_id)]
    assert "to the stuck primary" not in texts
    assert redis_client.llen(log_key) > length  # the backup writes on
    assert "to the stuck primary" not in str(redis_client.lrange(log_key, 0, -1))
    assert topology(backup)["epoch"] == 2


def test_a_kill_9_is_noticed_without_waiting_for_the_lease_to_lapse(pair, chat):
    """With a lease of a minute, the backup still serves at once: the killed
    process's connection to Redis closed, and that is what the backup watches."""
    primary, backup = pair(ha_lease_ttl_ms="60000")
    carol, alice, session_id = chat(primary, backup)
    primary.kill(signal.SIGKILL)
    backup.wait_serving(timeout=20)
    carol.connect()
    carol.say("after the kill")
    carol.drain_until_acked()
    alice.connect()
    alice.sees(session_id, "after the kill")
    assert topology(backup)["epoch"] == 2


def test_sigterm_of_the_primary_hands_the_pair_over_and_nobody_is_disconnected(pair, chat):
    primary, backup = pair()
    carol, alice, session_id = chat(primary, backup)
    carol.say("before the stop")
    carol.drain_until_acked()

    primary.kill(signal.SIGTERM)
    assert primary.process.returncode == 0, primary.log()
    carol.connect()
    alice.connect()
    assert carol.connected_to == backup.ws and alice.connected_to == backup.ws
    carol.say("after the stop")
    carol.drain_until_acked()
    alice.sees(session_id, "after the stop")
    for participant in (carol, alice):
        kinds = [e["type"] for e in participant.events(session_id)]
        assert "disconnected" not in kinds and "reconnected" not in kinds, kinds
        assert_each_once_in_order(participant, session_id, ["before the stop", "after the stop"])
    notices = [e for e in carol.events(session_id) if e.get("notice") == "switchover"]
    assert notices and notices[0]["primary"] == backup.ws
    assert topology(backup)["epoch"] == 2
    assert f"handed pair {topology(backup)['pair']} over to {backup.name}" in primary.log()
    # It exits without the interpreter's teardown: its last words still reach the log.
    assert primary.log().splitlines()[-1].endswith(f"{primary.name}: stopped"), primary.log()[-2000:]


def test_a_socket_that_reaches_the_backup_during_the_takeover_is_held_and_served(pair, chat):
    """Opened right after the kill, before the backup has noticed: it is not refused
    (which would have the client knock again), it is answered once the backup serves."""
    from .harness import Client

    primary, backup = pair()
    carol, _, session_id = chat(primary, backup)
    carol.say("before the kill")
    carol.drain_until_acked()
    primary.kill(signal.SIGKILL)
    early = Client.open(f"{backup.ws}/ws/chat/")
    early.send(type="resume", session_id=session_id, token=carol.resume_frame["token"],
               last_seq=carol.last_seq(session_id))
    first = early.recv(timeout=10)
    assert first["type"] == "resumed", first
    assert first["epoch"] == 2
    early.close()


def test_a_standby_socket_on_the_backup_takes_the_resume_after_a_kill_without_a_new_handshake(pair, chat):
    """A client keeps a standby socket to the backup; when its primary dies it sends
    its resume there, and the backup answers it as the new primary, on that socket."""
    from .harness import Client

    primary, backup = pair()
    carol, alice, session_id = chat(primary, backup)
    carol.say("before the kill")
    carol.drain_until_acked()
    standby = Client.open(f"{backup.ws}/ws/chat/?standby=1")
    assert standby.recv() == {"type": "standby"}
    assert figure(scrape(backup), "chat_standby_sockets") == 1
    primary.kill(signal.SIGKILL)
    standby.send(type="resume", session_id=session_id, token=carol.resume_frame["token"],
                 last_seq=carol.last_seq(session_id))
    resumed = standby.recv(timeout=10)
    assert resumed["type"] == "resumed", resumed
    assert resumed["epoch"] == topology(backup)["epoch"] == 2
    standby.send(type="message", session_id=session_id, text="through the standby", client_id="standby-1")
    standby.until(type="message", client_id="standby-1", timeout=10)
    alice.connect()
    alice.sees(session_id, "through the standby")
    figures = scrape(backup)
    assert figure(figures, "chat_standby_sockets_taken_up_total", outcome="served") == 1
    assert figure(figures, "chat_standby_sockets") == 0
    standby.close()


def test_a_frame_on_a_standby_socket_of_a_backup_with_a_live_primary_gets_its_address(pair, chat):
    """The standby is kept while the primary lives; a frame sent on it then is refused
    as a plain socket to the backup is, with the primary's address, and changes nothing."""
    from .harness import Client

    primary, backup = pair()
    carol, _, session_id = chat(primary, backup)
    standby = Client.open(f"{backup.ws}/ws/chat/?standby=1")
    assert standby.recv() == {"type": "standby"}
    standby.send(type="message", session_id=session_id, text="to the wrong member", client_id="wrong-1")
    assert standby.recv(timeout=10) == {"type": "not-primary", "primary": primary.ws}
    with pytest.raises(ConnectionClosed):
        standby.recv()
    assert standby.ws.close_code == 4010
    assert figure(scrape(backup), "chat_standby_sockets_taken_up_total", outcome="refused") == 1
    carol.say("still here")
    carol.drain_until_acked()
    assert "to the wrong member" not in messages(carol, session_id)


def test_only_standby_1_asks_for_a_standby_socket(pair):
    """Anything else is a plain socket, which a backup refuses at once (the contract)."""
    from .harness import Client

    primary, backup = pair()
    for query in ("standby=0", "standby=yes", "standby=1&standby=1", "standby=%00", "standby", "standby=%F0%9F%92%A5"):
        client = Client.open(f"{backup.ws}/ws/chat/?{query}")
        assert client.recv() == {"type": "not-primary", "primary": primary.ws}, query
        with pytest.raises(ConnectionClosed):
            client.recv()


def test_a_standby_socket_on_the_serving_member_serves_from_its_first_frame(server, clients):
    from .harness import Client

    client = Client.open(f"{server.ws}/ws/chat/?standby=1")
    clients.append(client)
    assert client.recv() == {"type": "standby"}
    client.send(type="start", nickname="Carol")
    assert client.until(type="started")["session_id"]


def scrape(server) -> dict[str, float]:
    """The server's /metrics, as {"name{labels}": value} (comments left out)."""
    status, body = http_get(f"{server.http}/metrics")
    assert status == 200
    figures = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            figures[name] = float(value)
    return figures


def figure(figures: dict[str, float], name: str, **labels: str) -> float:
    """The one sample of ``name`` whose labels include ``labels`` (0 if there is none)."""
    found = [value for key, value in figures.items()
             if key.split("{")[0] == name and all(f'{k}="{v}"' in key for k, v in labels.items())]
    assert len(found) <= 1, f"{name} {labels}: {found}"
    return found[0] if found else 0.0


def test_the_metrics_of_both_members_follow_a_takeover(pair, chat):
    """What an operator graphs and alerts on (docs/operations.md): which member
    serves, the epoch, takeovers and what they restored, the sockets and chats."""
    primary, backup = pair()
    carol, alice, _ = chat(primary, backup)
    carol.say("before")
    carol.drain_until_acked()
    before_p, before_b = scrape(primary), scrape(backup)
    assert figure(before_p, "chat_serving") == 1 and figure(before_b, "chat_serving") == 0
    assert figure(before_p, "chat_epoch") == figure(before_b, "chat_epoch") == 1
    assert figure(before_p, "chat_open_sessions") == 1
    assert figure(before_p, "chat_sockets", kind="agent") == figure(before_p, "chat_sockets", kind="customer") == 1
    assert figure(before_p, "chat_events_stored_total", type="message") == 1
    assert figure(before_p, "chat_message_delivery_seconds_count") == 1
    assert figure(before_b, "chat_takeovers_total", how="takeover") == 0

    primary.kill()
    backup.wait_serving()
    carol.connect()
    alice.connect()
    carol.say("after")
    carol.drain_until_acked()
    after = scrape(backup)
    assert figure(after, "chat_serving") == 1
    assert figure(after, "chat_epoch") == 2
    assert figure(after, "chat_takeovers_total", how="takeover") == 1
    assert figure(after, "chat_sessions_restored_total") == 1
    assert figure(after, "chat_restore_seconds_count") == 1
    assert figure(after, "chat_open_sessions") == 1
    assert figure(after, "chat_events_stored_total", type="reconnected") == 2
    assert figure(after, "chat_lease_renewal_seconds_count") >= 1
    assert figure(after, "chat_transcripts_owed", pair=topology(backup)["pair"]) >= 0
