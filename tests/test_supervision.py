"""Supervisors against real chat servers: the list of open chats, silent
monitoring, coaching that only the staff see, barge-in; an internal event never
reaches a customer's socket, live, on resume, after a kill -9 of the primary, nor
in an export a customer can reach."""
from __future__ import annotations

import io
import json
import signal

import pytest
from django.core.management import call_command
from django.test import Client as HttpClient

from .conftest import AGENT_PASSWORD, log_length
from .harness import Client, Participant, customer_starts, http_get, new_client_id, ready_agent, wait_for
from .test_failover import assert_each_once_in_order, pair  # noqa: F401  (a fixture)


@pytest.fixture
def supervisor(server, clients, supervisor_cookie):
    """Sue's supervisor socket, with the first list of chats read."""

    def open_supervisor(username: str = "sue") -> Client:
        client = Client.open(f"{server.ws}/ws/supervisor/", cookie=supervisor_cookie(username))
        clients.append(client)
        client.until(type="chats")
        return client

    return open_supervisor


def coach(client, session_id: str, text: str, **more) -> str:
    client_id = new_client_id()
    client.send(type="message", session_id=session_id, text=text, client_id=client_id, **more)
    return client_id


def assert_never_internal(frames: list[dict], *texts: str) -> None:
    """What a customer's socket got: no internal event, none of ``texts``, a gapless seq."""
    assert not [f for f in frames if f.get("visibility") == "internal"]
    assert not [f for f in frames if f.get("text") in texts]
    assert not [f for f in frames if "customer_seq" in f]


def test_a_supervisor_monitors_silently_coaches_the_agent_and_barges_in(chat, supervisor, redis_client):
    carol, alice = chat
    session_id = carol.started["session_id"]
    sue = supervisor()
    listed = [f for f in sue.frames if f["type"] == "chats"][-1]
    assert [c["session_id"] for c in listed["chats"]] == [session_id]
    assert listed["chats"][0]["agent"] == "Alice" and listed["chats"][0]["customer"] == "Carol"

    carol.send(type="message", text="my bill is wrong", client_id=new_client_id())
    alice.until(type="message", text="my bill is wrong")
    sue.send(type="monitor", session_id=session_id)
    monitoring = sue.until(type="monitoring", session_id=session_id)
    assert monitoring["agent"]["nickname"] == "Alice"
    # The history so far, then nothing was stored for the monitoring.
    sue.until(type="message", text="my bill is wrong")
    before = log_length(redis_client, session_id)

    coach(sue, session_id, "offer the refund")
    coached = alice.until(type="message", text="offer the refund")
    assert coached["visibility"] == "internal" and coached["role"] == "supervisor"
    assert sue.until(type="message", text="offer the refund")["seq"] == coached["seq"]
    coach(alice, session_id, "will do", visibility="internal")
    assert sue.until(type="message", text="will do")["visibility"] == "internal"
    alice.send(type="message", session_id=session_id, text="we will refund you", client_id=new_client_id())
    refund = carol.until(type="message", text="we will refund you")
    assert log_length(redis_client, session_id) == before + 3

    # Up to here the customer saw nothing of the supervisor, and a seq with no hole.
    assert_never_internal(carol.frames, "offer the refund", "will do")
    assert not [f for f in carol.frames if f.get("role") == "supervisor"]
    assert [e["seq"] for e in carol.events(session_id)] == list(range(1, refund["seq"] + 1))

    sue.send(type="barge-in", session_id=session_id)
    joined = carol.until(type="joined", role="supervisor")
    assert joined["nickname"] == "Sue" and joined["seq"] == refund["seq"] + 1
    alice.until(type="joined", role="supervisor")
    coach(sue, session_id, "Hello Carol, I am the supervisor", visibility="all")
    said = carol.until(type="message", text="Hello Carol, I am the supervisor")
    assert said["seq"] == joined["seq"] + 1 and "visibility" not in said
    assert [e["seq"] for e in carol.events(session_id)] == list(range(1, said["seq"] + 1))
    # The agent's count is the log's, internal events included.
    assert alice.until(type="message", text="Hello Carol, I am the supervisor")["seq"] == before + 5
    # The list of open chats follows: Sue is now in the chat.
    wait_for(lambda: (f := sue.recv()).get("type") == "chats" and f["chats"][0]["supervisors"] == ["Sue"], 5,
             "the list to show Sue in the chat")


def test_a_customer_who_resumes_gets_no_internal_event_and_a_gapless_count(chat, supervisor, server, clients):
    carol, alice = chat
    session_id, token = carol.started["session_id"], carol.started["token"]
    sue = supervisor()
    sue.send(type="monitor", session_id=session_id)
    sue.until(type="monitoring")
    last_seen = carol.until(type="joined", role="agent")["seq"]
    carol.close()
    alice.until(type="disconnected", role="customer")
    coach(sue, session_id, "she dropped; wait for her")
    alice.until(type="message", text="she dropped; wait for her")
    alice.send(type="message", session_id=session_id, text="are you there?", client_id=new_client_id())
    alice.until(type="message", text="are you there?")

    again = Client.open(f"{server.ws}/ws/chat/")
    clients.append(again)
    again.send(type="resume", session_id=session_id, token=token, last_seq=last_seen)
    resumed = again.until(type="resumed")
    back = again.until(type="reconnected")
    assert_never_internal(again.frames, "she dropped; wait for her")
    shown = [f["seq"] for f in again.frames if "seq" in f]
    assert shown == list(range(last_seen + 1, back["seq"] + 1))
    assert resumed["last_seq"] == back["seq"] - 1
    # A resume from the start: the whole transcript as the customer is shown it.
    again.send(type="resume", session_id=session_id, token=token, last_seq=0)
    again.until(type="resumed")
    start = len(again.frames)
    again.until(type="reconnected", seq=back["seq"])
    assert [f["seq"] for f in again.frames[start:]] == list(range(1, back["seq"] + 1))
    assert_never_internal(again.frames, "she dropped; wait for her")


def test_only_supervisors_get_the_page_and_the_socket(server, agent_cookie, supervisor_cookie):
    from websockets.exceptions import InvalidStatus

    for cookie in (None, agent_cookie("alice")):
        with pytest.raises(InvalidStatus) as refused:
            Client.open(f"{server.ws}/ws/supervisor/", cookie=cookie)
        assert refused.value.response.status_code == 403
    http = HttpClient()
    http.login(username="alice", password=AGENT_PASSWORD)
    assert http.get("/supervisor/").status_code == 403
    assert HttpClient().get("/supervisor/").status_code == 302  # to the login page
    supervisor_cookie("sue")
    http.login(username="sue", password=AGENT_PASSWORD)
    page = http.get("/supervisor/")
    assert page.status_code == 200 and b"/supervisor.js" in page.content


def test_bad_supervisor_frames_get_a_named_error_and_store_nothing(chat, supervisor, redis_client):
    carol, alice = chat
    session_id = carol.started["session_id"]
    sue = supervisor()
    before = log_length(redis_client, session_id)
    cases = [
        ({"type": "message", "session_id": session_id, "text": "psst", "client_id": "c1"}, "not-yours"),
        ({"type": "barge-in", "session_id": session_id}, "not-yours"),
        ({"type": "monitor", "session_id": "no-such-session"}, "session-closed"),
        ({"type": "monitor", "session_id": session_id, "last_seq": "1"}, "bad-frame"),
        ({"type": "monitor", "session_id": session_id + "\u2028"}, "bad-text"),
        ({"type": "monitor", "session_id": session_id + "\u202e"}, "session-closed"),  # odd, but one line
        ({"type": "typing", "session_id": session_id, "state": True}, "unknown-type"),
    ]
    for frame, code in cases:
        sue.send(**frame)
        assert sue.until(type="error")["code"] == code, frame
    sue.send(type="monitor", session_id=session_id)
    sue.until(type="monitoring")
    coach(sue, session_id, "to everyone?", visibility="all")
    assert sue.until(type="error")["code"] == "not-joined"
    coach(sue, session_id, "x" * 5000)
    assert sue.until(type="error")["code"] == "too-long"
    coach(sue, session_id, "hidden?", visibility="secret")
    assert sue.until(type="error")["code"] == "bad-frame"
    # A customer cannot write internal, nor monitor.
    coach(carol, session_id, "just for the agent", visibility="internal")
    assert carol.until(type="error")["code"] == "bad-frame"
    carol.send(type="monitor", session_id=session_id)
    assert carol.until(type="error")["code"] == "unknown-type"
    # A non-supervisor agent's socket does not take supervisor frames either.
    alice.send(type="barge-in", session_id=session_id)
    assert alice.until(type="error")["code"] == "unknown-type"
    assert log_length(redis_client, session_id) == before
    assert not [f for f in carol.frames if f.get("text") in ("to everyone?", "hidden?")]


def test_the_saved_transcript_keeps_visibility_and_only_staff_reach_it(chat, supervisor, worker, server):
    from transcripts.models import Transcript

    carol, alice = chat
    session_id = carol.started["session_id"]
    sue = supervisor()
    sue.send(type="monitor", session_id=session_id)
    sue.until(type="monitoring")
    coach(sue, session_id, "close it politely")
    alice.until(type="message", text="close it politely")
    alice.send(type="message", session_id=session_id, text="anything else?", client_id=new_client_id())
    alice.until(type="message", text="anything else?")
    alice.send(type="close", session_id=session_id)
    closed = alice.until(type="closed")
    transcript = wait_for(lambda: Transcript.objects.filter(session_id=session_id, saved_seq__gte=closed["seq"],
                                                             ended_at__isnull=False).first(),
                          15, "the transcript saved")
    [internal] = [e for e in transcript.events.all() if e.data.get("visibility") == "internal"]
    assert internal.data["text"] == "close it politely"
    # The staff export shows it; the customer (no staff login) reaches neither export.
    for suffix in ("json", "txt"):
        assert http_get(f"{server.http}/api/transcripts/{session_id}.{suffix}")[0] == 403
    from django.contrib.auth import get_user_model

    staff = HttpClient()
    staff.force_login(get_user_model().objects.create_user("boss", is_staff=True))
    exported = staff.get(f"/api/transcripts/{session_id}.json").json()
    assert [e.get("visibility") for e in exported["events"] if e.get("text") == "close it politely"] == ["internal"]
    text = staff.get(f"/api/transcripts/{session_id}.txt").content.decode()
    assert "(internal) Sue: close it politely" in text

    # The customer's export (what may be mailed to Carol): as she was shown the chat.
    out = io.StringIO()
    call_command("export_transcript", session_id, format="json", for_customer=True, stdout=out)
    mine = json.loads(out.getvalue())
    assert_never_internal(mine["events"], "close it politely")
    assert [e["seq"] for e in mine["events"]] == list(range(1, len(mine["events"]) + 1))
    assert "anything else?" in [e.get("text") for e in mine["events"]]
    assert {p["role"] for p in mine["participants"]} == {"customer", "agent"}
    out = io.StringIO()
    call_command("export_transcript", session_id, for_customer=True, stdout=out)
    assert "close it politely" not in out.getvalue() and "Sue" not in out.getvalue()
    assert "(internal)" not in out.getvalue() and "Alice: anything else?" in out.getvalue()


def test_a_coach_message_sent_just_before_a_kill_9_stays_internal_after_the_takeover(
        pair, agent_cookie, supervisor_cookie):  # noqa: F811
    primary, backup = pair()
    servers = [primary.ws, backup.ws]
    alice = ready_agent(servers, agent_cookie("alice"))
    carol, session_id = customer_starts(servers)
    alice.until(type="assigned")
    sue = Participant(servers, "/ws/supervisor/", cookie=supervisor_cookie("sue"))
    sue.connect()
    sue.send(type="monitor", session_id=session_id)
    sue.until(type="monitoring")
    carol.say("hello")
    carol.drain_until_acked()
    alice.sees(session_id, "hello")

    coach(sue.client, session_id, "last words before the crash")
    sue.sees(session_id, "last words before the crash")  # stored: its copy came back
    primary.kill(signal.SIGKILL)
    backup.wait_serving(timeout=5)

    carol.connect()
    alice.connect()
    sue.connect()
    sue.send(type="monitor", session_id=session_id, last_seq=0)
    sue.until(type="monitoring")
    carol.say("after the crash")
    carol.drain_until_acked()
    alice.sees(session_id, "after the crash")
    sue.sees(session_id, "after the crash")

    for staff in (alice, sue):
        [kept] = [e for e in staff.events(session_id) if e.get("text") == "last words before the crash"]
        assert kept["visibility"] == "internal"
    assert_never_internal(carol.client.frames, "last words before the crash")
    assert_each_once_in_order(carol, session_id, ["hello", "after the crash"])
    kinds = [(e["type"], e.get("role")) for e in carol.events(session_id)]
    assert ("disconnected", "customer") in kinds and ("reconnected", "customer") in kinds
    assert not [k for k in kinds if k[1] == "supervisor"]
    # The agent's count is the log's: one more than the customer's, the coaching.
    assert alice.last_seq(session_id) >= carol.last_seq(session_id) + 1
    for participant in (alice, sue, carol):
        participant.close()


def test_with_save_notices_the_customer_is_told_only_of_saves_it_can_see(
        make_application, start_server, worker, agent_cookie, supervisor_cookie, clients):
    """transcript-auto-save 2: a save that covered only coaching is an internal notice;
    the next one the customer gets names the save point in its own count."""
    server = start_server(make_application(transcript_auto_save="2"))
    alice = Client.open(f"{server.ws}/ws/agent/", cookie=agent_cookie("alice"))
    carol = Client.open(f"{server.ws}/ws/chat/")
    sue = Client.open(f"{server.ws}/ws/supervisor/", cookie=supervisor_cookie("sue"))
    clients.extend([alice, carol, sue])
    alice.send(type="ready")
    carol.send(type="start", nickname="Carol")
    session_id = carol.until(type="started")["session_id"]
    alice.until(type="assigned", session_id=session_id)
    sue.send(type="monitor", session_id=session_id)
    sue.until(type="monitoring")
    carol.send(type="message", text="hello", client_id=new_client_id())
    hello = carol.until(type="message", text="hello")
    carol.until(type="notice", notice="ucs-save", timeout=15)
    alice.until(type="notice", notice="ucs-save", timeout=15)

    coach(sue, session_id, "psst")
    coached = alice.until(type="message", text="psst")
    told_staff = alice.until(type="notice", notice="ucs-save", timeout=15)
    assert told_staff["visibility"] == "internal" and told_staff["saved_seq"] >= coached["seq"]

    alice.send(type="message", session_id=session_id, text="hi Carol", client_id=new_client_id())
    hi = carol.until(type="message", text="hi Carol")
    told = carol.until(type="notice", notice="ucs-save", timeout=15)
    assert hi["seq"] <= told["saved_seq"] < told["seq"]
    assert len([f for f in carol.frames if f.get("notice") == "ucs-save"]) == 2
    assert_never_internal(carol.frames, "psst")
    assert [e["seq"] for e in carol.events(session_id)] == list(range(1, told["seq"] + 1))
    assert hello["seq"] < hi["seq"]


def test_a_supervisor_who_leaves_goes_on_monitoring_and_one_who_stops_monitoring_leaves(
        chat, supervisor, redis_client):
    """leave: a visible left, then coaching only; unmonitor: a left if still in the chat,
    then nothing more reaches the supervisor and its frames about the chat are refused."""
    carol, alice = chat
    session_id = carol.started["session_id"]
    sue = supervisor()
    sue.send(type="monitor", session_id=session_id)
    sue.until(type="monitoring")
    sue.send(type="barge-in", session_id=session_id)
    carol.until(type="joined", role="supervisor")
    sue.send(type="leave", session_id=session_id)
    left = carol.until(type="left", role="supervisor")
    assert alice.until(type="left", role="supervisor")["seq"] == left["seq"]
    coach(sue, session_id, "back to coaching", visibility="all")
    assert sue.until(type="error")["code"] == "not-joined"
    coach(sue, session_id, "back to coaching")
    alice.until(type="message", text="back to coaching")
    assert [f["type"] for f in carol.quiet()] == []  # Carol is shown nothing of it
    sue.send(type="barge-in", session_id=session_id)
    carol.until(type="joined", role="supervisor", seq=left["seq"] + 1)

    sue.send(type="unmonitor", session_id=session_id)
    assert carol.until(type="left", role="supervisor")["seq"] == left["seq"] + 2
    sue.until(type="unmonitored", session_id=session_id)
    before = log_length(redis_client, session_id)
    carol.send(type="message", text="is she gone?", client_id=new_client_id())
    alice.until(type="message", text="is she gone?")
    assert not [f for f in sue.quiet() if f.get("text") == "is she gone?"]
    coach(sue, session_id, "one more thing")
    assert sue.until(type="error")["code"] == "not-yours"
    assert log_length(redis_client, session_id) == before + 1
    assert_never_internal(carol.frames, "back to coaching")
    assert [e["seq"] for e in carol.events(session_id)] == list(range(1, carol.events(session_id)[-1]["seq"] + 1))


def test_logging_out_closes_the_supervisor_socket_and_a_barged_in_supervisor_is_disconnected(
        chat, server, clients, transactional_db):
    """Sue barged in and logs out: her socket is closed (4003), Carol sees her
    disconnected, and her old cookie opens no supervisor socket."""
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    carol, _alice = chat
    session_id = carol.started["session_id"]
    call_command("createagent", "sue", password=AGENT_PASSWORD, name="Sue", supervisor=True)
    http = HttpClient()
    assert http.login(username="sue", password=AGENT_PASSWORD)
    cookie = http.cookies["sessionid"].value
    sue = Client.open(f"{server.ws}/ws/supervisor/", cookie=cookie)
    clients.append(sue)
    sue.until(type="chats")
    sue.send(type="monitor", session_id=session_id)
    sue.until(type="monitoring")
    sue.send(type="barge-in", session_id=session_id)
    carol.until(type="joined", role="supervisor")

    http.logout()
    with pytest.raises(ConnectionClosed) as closed:
        sue.until(type="never")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4003
    assert carol.until(type="disconnected", role="supervisor")["nickname"] == "Sue"
    with pytest.raises(InvalidStatus):
        Client.open(f"{server.ws}/ws/supervisor/", cookie=cookie)
