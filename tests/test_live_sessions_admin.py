"""The admin's page of the live sessions (issue 12), served by real chat server
processes: an operator sees the open chats of the pairs from the live log,
finds them, and closes one through whichever member served the page; a user
who is not allowed sees nothing and closes nothing."""
from __future__ import annotations

import re
import uuid
from html import unescape

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client as HttpClient

from chatsite import rediskeys

from .harness import Client, ServerProcess
from .test_agent_accounts import Browser

LIVE_SESSIONS = "/admin/ha/application/live-sessions/"
CLOSE = "/admin/ha/application/live-sessions/close/"
ROW = re.compile(r'<tr class="live-session" data-session-id="([^"]+)" data-state="([^"]+)">(.*?)</tr>', re.S)


@pytest.fixture
def pair(make_application, start_server) -> tuple[ServerProcess, ServerProcess, str]:
    """A pair whose agents take one chat at a time, so that a second chat waits:
    its primary serving, its backup up beside it, and the pair's name."""
    name = f"live-admin-{uuid.uuid4().hex[:6]}"
    primary = start_server(make_application(f"{name}-primary", pair=name, agent_capacity="1"))
    backup = start_server(make_application(f"{name}-backup", pair=name, role="backup", agent_capacity="1"),
                          serving=False)
    return primary, backup, name


@pytest.fixture
def chats(pair, clients, agent_cookie) -> dict[str, Client | str]:
    """Alice (an agent) chats with Carol; Dave waits in the queue."""
    primary, _, _ = pair
    alice = Client.open(f"{primary.ws}/ws/agent/", cookie=agent_cookie("alice"))
    clients.append(alice)
    alice.send(type="ready")
    carol = Client.open(f"{primary.ws}/ws/chat/")
    clients.append(carol)
    carol.send(type="start", nickname="Carol")
    carol_session = carol.until(type="started")["session_id"]
    alice.until(type="assigned", session_id=carol_session)
    carol.until(type="joined", session_id=carol_session)
    dave = Client.open(f"{primary.ws}/ws/chat/")
    clients.append(dave)
    dave.send(type="start", nickname="Dave")
    dave_session = dave.until(type="started")["session_id"]
    dave.until(type="notice", notice="queued")
    return {"alice": alice, "carol": carol, "dave": dave, "carol_session": carol_session,
            "dave_session": dave_session}


def browser_of(user) -> Browser:
    """A browser logged in as ``user`` (a login made in this process, in the shared database)."""
    http = HttpClient()
    http.force_login(user)
    browser = Browser()
    browser.set_cookie("sessionid", http.cookies["sessionid"].value)
    return browser


def rows(page: str) -> dict[str, tuple[str, str]]:
    """session id -> (state, the row's text) of the list's rows."""
    return {sid: (state, unescape(re.sub(r"<[^>]+>", " ", cells))) for sid, state, cells in ROW.findall(page)}


def test_an_operator_sees_the_waiting_and_the_active_chat_and_finds_them_by_name_id_or_agent(pair, chats):
    """The superuser's list, on the backup as on the primary, shows Carol's chat as
    active with Alice and Dave's as queued with a time it waits since; a search by
    nickname, session id or agent name keeps only the matching chat."""
    primary, backup, name = pair
    operator = browser_of(get_user_model().objects.create_superuser("olga", "olga@example.com", "x-olga-pw-8812"))
    for member in (primary, backup):
        status, _, page = operator.request(f"{member.http}{LIVE_SESSIONS}")
        assert status == 200
        listed = rows(page)
        carol_state, carol_row = listed[chats["carol_session"]]
        dave_state, dave_row = listed[chats["dave_session"]]
        assert carol_state == "active" and "Carol" in carol_row and "Alice" in carol_row and name in carol_row
        assert dave_state == "queued" and "Dave" in dave_row and "Alice" not in dave_row
        assert f"/api/transcripts/{chats['carol_session']}.json" in page

    for query, found in [("dave", chats["dave_session"]), (chats["carol_session"][:12], chats["carol_session"]),
                         ("ALICE", chats["carol_session"])]:
        _, _, page = operator.request(f"{backup.http}{LIVE_SESSIONS}?q={query}")
        assert set(rows(page)) == {found}, query
    _, _, page = operator.request(f"{backup.http}{LIVE_SESSIONS}?q=nobody-by-that-name")
    assert rows(page) == {} and "No live session" in page


def test_an_operator_closes_a_chat_through_the_backup_and_both_sides_get_closed(pair, chats, redis_client):
    """Closing Carol's chat from the admin of the backup ends it on the primary: Carol
    and Alice both get ``closed`` with reason ``operator-closed``, the chat leaves the
    list, and Alice, free again, is given Dave's waiting chat."""
    primary, backup, name = pair
    operator = browser_of(get_user_model().objects.create_superuser("olga", "olga@example.com", "x-olga-pw-8812"))
    operator.request(f"{backup.http}{LIVE_SESSIONS}")  # the page, and its CSRF cookie
    status, headers, _ = operator.request(f"{backup.http}{CLOSE}", {"session_id": chats["carol_session"]})
    assert status == 302 and headers["Location"].endswith(LIVE_SESSIONS)

    for who in (chats["carol"], chats["alice"]):
        closed = who.until(type="closed", session_id=chats["carol_session"])
        assert closed["reason"] == "operator-closed"
    assert not redis_client.sismember(rediskeys.pair_open_sessions(name), chats["carol_session"])
    _, _, page = operator.request(f"{primary.http}{LIVE_SESSIONS}")
    assert "Closed chat session" in page and set(rows(page)) == {chats["dave_session"]}
    assert chats["alice"].until(type="assigned")["session_id"] == chats["dave_session"]


def test_a_user_who_may_not_gets_no_list_and_closes_nothing(pair, chats, redis_client):
    """Bob, logged in but not staff, is sent to the admin's login for the list and the
    close; Vera, staff who may only view applications, gets the list but a 403 for the
    close: nothing is asked of the primary, and Carol's chat stays open."""
    _, backup, name = pair
    users = get_user_model()
    bob = browser_of(users.objects.create_user("bob", "bob@example.com", "x-bob-pw-8812"))
    vera_user = users.objects.create_user("vera", "vera@example.com", "x-vera-pw-8812", is_staff=True)
    vera_user.user_permissions.add(Permission.objects.get(codename="view_application"))
    vera = browser_of(vera_user)
    commands = redis_client.pubsub()
    commands.subscribe(rediskeys.operator_commands())
    assert commands.get_message(timeout=5)["type"] == "subscribe"
    try:
        status, headers, page = bob.request(f"{backup.http}{LIVE_SESSIONS}")
        assert status == 302 and "/admin/login/" in headers["Location"] and "Carol" not in page
        bob.request(f"{backup.http}/admin/login/")  # a CSRF cookie, so that the refusal is the admin's
        status, headers, _ = bob.request(f"{backup.http}{CLOSE}", {"session_id": chats["carol_session"]})
        assert status == 302 and "/admin/login/" in headers["Location"]

        status, _, page = vera.request(f"{backup.http}{LIVE_SESSIONS}")
        assert status == 200 and chats["carol_session"] in rows(page) and "Close chat" not in page
        status, _, _ = vera.request(f"{backup.http}{CLOSE}", {"session_id": chats["carol_session"]})
        assert status == 403

        # Each refusal came before anything was published: nothing reached the channel.
        assert commands.get_message(timeout=0.5) is None
    finally:
        commands.close()
    assert redis_client.sismember(rediskeys.pair_open_sessions(name), chats["carol_session"])
