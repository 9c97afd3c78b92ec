"""Nobody there (issue 13) against real chat servers: a wait nobody answers in
time ends in the offline path and leaves the chat an agent has alone; the page
learns from either member whether anybody is there; outside opening hours a
start is refused; an offline message lands in the admin under its filter, is
taken then answered; what the form gets from a hostile client."""
from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from urllib.request import urlopen

import pytest
from django.contrib.auth import get_user_model

from chat.opening_hours import DAYS
from transcripts.models import Transcript

from .harness import Client, ServerProcess, new_client_id, open_agent, open_customer, wait_for
from .test_agent_accounts import Browser
from .test_live_sessions_admin import browser_of

OFFLINE = "/api/chat/offline-message"
AVAILABILITY = "/api/chat/availability"
TRANSCRIPTS = "/admin/transcripts/transcript/"
CAROL = {"name": "Carol", "email": "carol@example.com", "text": "Please call me back.\nAbout my order."}
def availability_of(server: ServerProcess) -> tuple[dict, dict[str, str]]:
    with urlopen(f"{server.http}{AVAILABILITY}", timeout=5) as response:
        return json.loads(response.read()), dict(response.headers)


def customer_browser(server: ServerProcess) -> Browser:
    """A customer's browser with the page loaded (and so its CSRF cookie)."""
    browser = Browser()
    status, _, _ = browser.request(f"{server.http}/")
    assert status == 200 and browser.cookie("csrftoken")
    return browser


def when(event: dict) -> float:
    return datetime.fromisoformat(event["at"]).timestamp()


@pytest.fixture
def pair(make_application, start_server) -> tuple[ServerProcess, ServerProcess]:
    """A serving primary whose agents take one chat at a time and whose queue waits
    at most 2 s, and its backup."""
    name = f"offline-{uuid.uuid4().hex[:6]}"
    options = {"agent_capacity": "1", "queue_timeout": "2"}
    primary = start_server(make_application(f"{name}-primary", pair=name, **options))
    backup = start_server(make_application(f"{name}-backup", pair=name, role="backup", **options), serving=False)
    return primary, backup


def test_a_wait_nobody_answers_in_time_ends_with_queue_timeout_and_the_assigned_chat_goes_on(pair, clients,
                                                                                             agent_cookie):
    """Alice has Carol's chat; Dave waits, nobody answers, and after queue-timeout his
    chat is closed with reason queue-timeout (not inactivity). Carol's chat, older
    than Dave's wait, is untouched and goes on."""
    primary, _ = pair
    alice = open_agent(primary, clients, agent_cookie, "alice")
    carol = open_customer(primary, clients, "Carol", wait_started=False)
    carol_session = carol.until(type="started")["session_id"]
    alice.until(type="assigned", session_id=carol_session)
    dave = open_customer(primary, clients, "Dave", wait_started=False)
    dave_session = dave.until(type="started")["session_id"]
    queued = dave.until(type="notice", notice="queued")

    closed = dave.until(type="closed", timeout=10)
    assert closed["reason"] == "queue-timeout" and closed["session_id"] == dave_session
    assert when(closed) - when(queued) >= 2
    dave.send(type="message", text="hello?", client_id=new_client_id())
    assert dave.until(type="error")["code"] == "session-closed"

    carol.send(type="message", text="still here", client_id=new_client_id())
    assert alice.until(type="message", text="still here")["session_id"] == carol_session
    carol.until(type="message", text="still here")
    assert [f for f in carol.frames if f.get("type") == "closed"] == []


def test_either_member_tells_the_page_whether_anybody_is_there(pair, clients, agent_cookie):
    """With no agent both members say no-agent (cacheable for a second); once Alice is
    available both say a chat may start."""
    primary, backup = pair
    for member in (primary, backup):
        answer, headers = availability_of(member)
        assert answer == {"available": False, "reason": "no-agent", "agents": 0, "waiting": 0,
                          "expected_wait_s": None}
        assert headers["Cache-Control"] == "max-age=1"
    open_agent(primary, clients, agent_cookie, "alice")
    for member in (primary, backup):
        wait_for(lambda m=member: availability_of(m)[0]["available"], 10, f"{member.name} to see Alice")
        assert availability_of(member)[0]["agents"] == 1


def test_availability_takes_get_only_ignores_odd_queries_and_answers_only_the_pairs_pages(pair):
    """Only the pair's own pages may read it across members; a POST is refused (the
    CSRF check, else 405) and changes nothing; a query string, however odd, changes
    nothing."""
    import urllib.error
    from urllib.request import Request

    primary, backup = pair
    plain, _ = availability_of(primary)
    for query in ("?available=true", "?waiting=%00%ff&expected_wait_s=9e99", "?" + "x" * 4000):
        with urlopen(f"{primary.http}{AVAILABILITY}{query}", timeout=5) as response:
            assert json.loads(response.read()) == plain
    with pytest.raises(urllib.error.HTTPError) as refused:
        urlopen(Request(f"{primary.http}{AVAILABILITY}", data=b"available=true", method="POST"), timeout=5)
    assert refused.value.code in (403, 405)
    assert availability_of(primary)[0] == plain

    def allowed(origin: str) -> str | None:
        with urlopen(Request(f"{primary.http}{AVAILABILITY}", headers={"Origin": origin}), timeout=5) as response:
            return response.headers["Access-Control-Allow-Origin"]

    assert allowed(backup.http) == backup.http
    assert allowed("http://evil.example") is None


def test_a_full_queue_is_told_as_busy(make_application, start_server, clients, agent_cookie):
    """Alice takes one chat at a time and one chat may wait: with Carol's chat hers and
    Dave's waiting, the page is told busy, and Erin's start is refused with busy."""
    server = start_server(make_application(agent_capacity="1", queue_max_waiting="1"))
    alice = open_agent(server, clients, agent_cookie, "alice")
    carol = open_customer(server, clients, "Carol", wait_started=False)
    alice.until(type="assigned", session_id=carol.until(type="started")["session_id"])
    dave = open_customer(server, clients, "Dave", wait_started=False)
    dave.until(type="notice", notice="queued")
    wait_for(lambda: availability_of(server)[0]["reason"] == "busy", 10, "the page to be told busy")
    assert availability_of(server)[0] == {"available": False, "reason": "busy", "agents": 1, "waiting": 1,
                                          "expected_wait_s": None}
    erin = open_customer(server, clients, "Erin", wait_started=False)
    assert erin.until(type="error")["code"] == "busy"


def test_outside_opening_hours_the_page_is_told_and_a_start_is_refused(make_application, start_server, clients,
                                                                       agent_cookie):
    """Open on a day three days from today only: the availability says closed even
    with Alice available, and a start gets the error closed and no session."""
    other_day = DAYS[(datetime.now(UTC).weekday() + 3) % 7]
    server = start_server(make_application(opening_hours=f"{other_day} 08:00-18:00", time_zone="UTC"))
    open_agent(server, clients, agent_cookie, "alice")
    answer, _ = availability_of(server)
    assert (answer["available"], answer["reason"]) == (False, "closed")
    carol = open_customer(server, clients, "Carol", wait_started=False)
    refused = carol.until(type="error")
    assert refused["code"] == "closed" and "opening-hours" in refused["message"]
    assert [f for f in carol.frames if f.get("type") == "started"] == []


def test_an_offline_message_lands_in_the_admin_under_its_filter_and_is_taken_then_answered(pair):
    """Carol leaves a message through the primary; the operator finds it on the backup's
    admin under "offline, unanswered" (a chat's transcript is not), takes it, then
    marks it answered; its export holds what Carol wrote and her address."""
    primary, backup = pair
    status, _, body = customer_browser(primary).request(f"{primary.http}{OFFLINE}", CAROL)
    assert status == 201, body
    receipt = json.loads(body)
    assert receipt["state"] == "unanswered"
    message_id = receipt["id"]
    chat = Transcript.objects.create(session_id=uuid.uuid4().hex, pair="p", started_at=datetime.now(UTC))

    operator = browser_of(get_user_model().objects.create_superuser("olga", "olga@example.com", "x-olga-pw-8812"))
    status, _, page = operator.request(f"{backup.http}{TRANSCRIPTS}?offline__exact=unanswered")
    assert status == 200
    assert message_id in page and "carol@example.com" in page and chat.session_id not in page
    assert "offline, unanswered" in page  # the filter's choice, as the admin names it

    row = Transcript.objects.get(session_id=message_id)
    for action, state in (("mark_taken", "taken"), ("mark_answered", "answered")):
        status, _, _ = operator.request(f"{backup.http}{TRANSCRIPTS}",
                                        {"action": action, "_selected_action": str(row.pk), "index": "0"})
        assert status == 302
        _, _, page = operator.request(f"{backup.http}{TRANSCRIPTS}?offline__exact={state}")
        assert message_id in page
        row.refresh_from_db()
        assert (row.offline, row.handled_by) == (state, "olga")

    status, _, exported = operator.request(f"{primary.http}/api/transcripts/{message_id}.json")
    exported = json.loads(exported)
    assert exported["end_reason"] == "offline-message"
    [event] = exported["events"]
    assert (event["type"], event["text"], event["nickname"]) == ("message", CAROL["text"], "Carol")


def test_a_hostile_offline_form_is_refused_with_a_code_and_stores_nothing(server):
    """Wrong or missing fields, control characters, a bad address, a huge text or body,
    no CSRF token, a GET: each refused, nothing stored; odd but valid Unicode is kept."""
    carol = customer_browser(server)
    url = f"{server.http}{OFFLINE}"
    for change, status_code, code in [
        ({"email": "carol"}, 400, "bad-email"),
        ({"email": "carol@example.com\r\nBcc: x@example.com"}, 400, "bad-text"),
        ({"name": ""}, 400, "missing-field"),
        ({"text": "   "}, 400, "missing-field"),
        ({"name": "Ca\x00rol"}, 400, "bad-text"),
        ({"name": "Carol\u2028Admin"}, 400, "bad-text"),
        ({"text": "bell \x07"}, 400, "bad-text"),
        ({"name": "C" * 65}, 400, "too-long"),
        ({"text": "x" * 4097}, 400, "too-long"),
        ({"text": "x" * 100_000}, 400, "too-long"),
    ]:
        status, _, body = carol.request(url, {**CAROL, **change})
        assert (status, json.loads(body)["code"]) == (status_code, code), change
    status, _, _ = carol.request(url, {**CAROL, "text": "x" * 3_000_000})  # past Django's body limit
    assert status == 400
    status, _, _ = Browser().request(url, CAROL)  # no CSRF cookie nor token
    assert status == 403
    status, _, _ = carol.request(url)
    assert status == 405
    assert not Transcript.objects.exists()

    odd = {**CAROL, "name": "Zoë 🦊 שלום", "text": "e\u0301 👩‍👩‍👧 \ufeff ok"}
    status, _, body = carol.request(url, odd)
    assert status == 201
    row = Transcript.objects.get(session_id=json.loads(body)["id"])
    assert row.participants.get().nickname == odd["name"] and row.events.get().data["text"] == odd["text"]


def test_offline_messages_from_one_address_are_limited(make_application, start_server):
    """Counted like every per-address limit (loopback counted here): three an hour,
    the fourth answered 429 with rate-limited naming the option."""
    server = start_server(make_application(address_offline_messages_per_hour="3"), CHAT_TRUSTED_ADDRESSES="")
    carol = customer_browser(server)
    answers = [carol.request(f"{server.http}{OFFLINE}", CAROL) for _ in range(4)]
    assert [status for status, _, _ in answers] == [201, 201, 201, 429]
    refused = json.loads(answers[-1][2])
    assert refused["code"] == "rate-limited" and "address-offline-messages-per-hour" in refused["message"]
    assert Transcript.objects.filter(offline="unanswered").count() == 3


def test_the_page_holds_the_offline_form_with_its_csrf_token(server):
    _, _, page = customer_browser(server).request(f"{server.http}/")
    form = re.search(r'<form id="offline".*?</form>', page, re.S).group(0)
    assert 'name="csrfmiddlewaretoken"' in form and 'name="email"' in form and "<textarea" in form


def agent_browser(server: ServerProcess, agent_cookie, username: str) -> Browser:
    """An agent's browser on its desktop (logged in, with the page's CSRF cookie)."""
    browser = Browser()
    browser.set_cookie("sessionid", agent_cookie(username))
    status, _, _ = browser.request(f"{server.http}/agent/")
    assert status == 200
    return browser


def test_agents_list_offline_messages_and_one_takes_then_answers_one(pair, agent_cookie):
    """Alice and Bob see Carol's message on their desktops (through either member);
    Alice takes it, so Bob can neither take nor answer it; Alice answers it and it
    leaves the list. Someone who is not an agent sees nothing."""
    primary, backup = pair
    status, _, body = customer_browser(primary).request(f"{primary.http}{OFFLINE}", CAROL)
    message_id = json.loads(body)["id"]
    alice, bob = agent_browser(primary, agent_cookie, "alice"), agent_browser(backup, agent_cookie, "bob")

    status, headers, listed = bob.request(f"{backup.http}/api/chat/offline-messages")
    assert status == 200 and headers["Cache-Control"] == "no-store"
    [shown] = json.loads(listed)["messages"]
    assert shown | {"at": None} == {"id": message_id, "state": "unanswered", "handled_by": "", "at": None,
                                    "email": CAROL["email"], "name": "Carol", "text": CAROL["text"]}

    moves = f"/api/chat/offline-messages/{message_id}"
    assert alice.request(f"{primary.http}{moves}/take", {})[0] == 200
    for what in ("take", "answer"):
        status, _, body = bob.request(f"{backup.http}{moves}/{what}", {})
        assert (status, json.loads(body)["code"]) == (409, "not-yours"), what
    [shown] = json.loads(bob.request(f"{backup.http}/api/chat/offline-messages")[2])["messages"]
    assert (shown["state"], shown["handled_by"]) == ("taken", "alice")
    status, _, body = alice.request(f"{primary.http}{moves}/answer", {})
    assert (status, json.loads(body)["state"]) == (200, "answered")
    assert json.loads(alice.request(f"{primary.http}/api/chat/offline-messages")[2])["messages"] == []
    assert Transcript.objects.get(session_id=message_id).handled_by == "alice"

    outsider = customer_browser(primary)
    assert outsider.request(f"{primary.http}/api/chat/offline-messages")[0] == 403
    assert outsider.request(f"{primary.http}{moves}/take", {})[0] == 403
    assert alice.request(f"{primary.http}{moves}/take")[0] == 405  # a GET moves nothing


def test_a_wait_keeps_its_queue_timeout_across_a_failover(make_application, start_server, clients):
    """Dave waits; the primary is killed -9; the backup restores his chat and, still
    counting from his queued notice (it is in the live log), closes it with reason
    queue-timeout. Dave, back on the backup, gets it after the missed events."""
    name = f"offline-{uuid.uuid4().hex[:6]}"
    options = {"queue_timeout": "3", "session_restoration_mode": "simple"}
    primary = start_server(make_application(f"{name}-primary", pair=name, **options))
    backup = start_server(make_application(f"{name}-backup", pair=name, role="backup", **options), serving=False)
    dave = open_customer(primary, clients, "Dave", wait_started=False)
    started = dave.until(type="started")
    queued = dave.until(type="notice", notice="queued")
    primary.kill()
    backup.wait_serving()

    back = Client.open(f"{backup.ws}/ws/chat/")
    clients.append(back)
    back.send(type="resume", session_id=started["session_id"], token=started["token"], last_seq=queued["seq"])
    closed = back.until(type="closed", timeout=15)
    assert closed["reason"] == "queue-timeout"
    assert when(closed) - when(queued) >= 3
    kinds = [event["type"] for event in back.events(started["session_id"])]
    assert kinds[-1] == "closed" and "disconnected" in kinds
