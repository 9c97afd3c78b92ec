"""Agent accounts (issue 9): only agents take chats, logging out ends the desk's
sockets wherever the logout was served, passwords are checked, login guessing is
throttled, and customers never learn an agent's login name or user id."""
from __future__ import annotations

import json
import re
from http.cookiejar import Cookie, CookieJar
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, HTTPRedirectHandler, Request, build_opener

import psutil
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client as HttpClient
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chat import login_throttle
from chat.agents import AGENTS_GROUP, public_id
from chat.identity import login_hash
from chatsite import rediskeys

from .conftest import AGENT_PASSWORD
from .harness import Client, ServerProcess, wait_for

# The close code of a socket whose login logged out (chat.frames.CLOSE_FORBIDDEN).
CLOSE_FORBIDDEN = 4003


class _NoRedirects(HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an answer to look at, not to follow


class Browser:
    """What a browser keeps between pages (cookies, the CSRF token), against the
    servers of one host: urllib, no redirects followed."""

    def __init__(self) -> None:
        self.jar = CookieJar()
        self.opener = build_opener(HTTPCookieProcessor(self.jar), _NoRedirects)

    def cookie(self, name: str) -> str | None:
        return next((cookie.value for cookie in self.jar if cookie.name == name), None)

    def set_cookie(self, name: str, value: str) -> None:
        self.jar.set_cookie(Cookie(0, name, value, None, False, "127.0.0.1", False, False, "/", True, False,
                                   None, False, None, None, {}))

    def request(self, url: str, form: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        data = None
        if form is not None:
            data = urlencode({**form, "csrfmiddlewaretoken": self.cookie("csrftoken") or ""}).encode()
        try:
            with self.opener.open(Request(url, data=data), timeout=10) as response:
                return response.status, dict(response.headers), response.read().decode()
        except HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()

    def log_in(self, server: ServerProcess, username: str, password: str) -> tuple[int, dict[str, str], str]:
        """Fill the login page's form, as an agent does."""
        self.request(f"{server.http}/accounts/login/")  # the form, and its CSRF cookie
        return self.request(f"{server.http}/accounts/login/",
                            {"username": username, "password": password, "next": "/agent/"})


def make_agent(username: str, name: str = "") -> Any:
    call_command("createagent", username, password=AGENT_PASSWORD, name=name)
    return get_user_model().objects.get(username=username)


def logged_in(username: str) -> str:
    """The session cookie of a login of ``username``."""
    http = HttpClient()
    assert http.login(username=username, password=AGENT_PASSWORD)
    return http.cookies["sessionid"].value


def desk(server: ServerProcess, cookie: str) -> Client:
    return Client.open(f"{server.ws}/ws/agent/", cookie=cookie)


def assert_socket_refused(server: ServerProcess, cookie: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        desk(server, cookie)
    assert refused.value.response.status_code == 403


def test_a_logged_in_user_who_is_not_an_agent_gets_no_desk_and_no_socket(server, transactional_db):
    """Mallory has an account but is no agent: the desk answers 403 and says why, and
    the agent socket is refused as for no login; Alice, an agent, gets both."""
    get_user_model().objects.create_user("mallory", password=AGENT_PASSWORD)
    make_agent("alice", "Alice")
    mallory, alice = Browser(), Browser()
    mallory.set_cookie("sessionid", logged_in("mallory"))
    alice.set_cookie("sessionid", logged_in("alice"))

    status, _, page = mallory.request(f"{server.http}/agent/")
    assert status == 403 and "not an agent account" in page
    assert_socket_refused(server, mallory.cookie("sessionid"))

    status, _, page = alice.request(f"{server.http}/agent/")
    assert status == 200 and "Customers see you as <strong>Alice</strong>" in page
    desk(server, alice.cookie("sessionid")).close()


def test_an_agent_taken_out_of_the_agents_group_cannot_open_the_desk_again(server, transactional_db):
    """Alice's socket left her in the cache as an agent; once she is no longer in the
    group, her next socket is refused (the cache forgot her)."""
    alice = make_agent("alice", "Alice")
    cookie = logged_in("alice")
    desk(server, cookie).close()
    alice.groups.remove(Group.objects.get(name=AGENTS_GROUP))
    assert_socket_refused(server, cookie)


def test_logging_out_on_the_backup_closes_the_agents_socket_on_the_primary(
    make_application, start_server, transactional_db, clients
):
    """Alice chats with Carol on the primary and logs out through the backup: her
    socket is closed (4003), Carol sees her disconnected, her old cookie opens no
    socket, and Dave's new chat waits until Bob, not Alice, takes it."""
    primary_app = make_application("accounts-primary", pair="accounts")
    backup_app = make_application("accounts-backup", pair="accounts", role="backup")
    primary = start_server(primary_app)
    backup = start_server(backup_app, serving=False)
    alice = make_agent("alice", "Alice")
    browser = Browser()
    status, headers, _ = browser.log_in(backup, "alice", AGENT_PASSWORD)
    assert (status, headers["Location"]) == (302, "/agent/")
    cookie = browser.cookie("sessionid")

    alice_desk = desk(primary, cookie)
    clients.append(alice_desk)
    alice_desk.send(type="ready")
    carol = Client.open(f"{primary.ws}/ws/chat/")
    clients.append(carol)
    carol.send(type="start", nickname="Carol")
    session_id = alice_desk.until(type="assigned")["session_id"]
    carol.until(type="joined", session_id=session_id)

    assert browser.request(f"{backup.http}/accounts/logout/", {})[0] == 302
    with pytest.raises(ConnectionClosed) as closed:
        alice_desk.until(type="never")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_FORBIDDEN
    assert carol.until(type="disconnected")["from"] == public_id(alice.pk)
    assert_socket_refused(primary, cookie)

    dave = Client.open(f"{primary.ws}/ws/chat/")
    clients.append(dave)
    dave.send(type="start", nickname="Dave")
    dave_session = dave.until(type="started")["session_id"]
    dave.until(type="notice", notice="queued")
    bob = make_agent("bob", "Bob")
    bob_desk = desk(primary, logged_in("bob"))
    clients.append(bob_desk)
    bob_desk.send(type="ready")
    assert bob_desk.until(type="assigned")["session_id"] == dave_session
    assert dave.until(type="joined")["from"] == public_id(bob.pk)  # the first agent to join


@pytest.mark.parametrize("password", ["secret", "12345678", "alice-login-1"])
def test_createagent_refuses_a_weak_password_and_makes_no_account(password, transactional_db):
    """Too short, all digits, or like the username: refused with the validators'
    reason, and no account is left behind."""
    with pytest.raises(CommandError, match=r"--password refused: .*(short|numeric|similar)"):
        call_command("createagent", "alice-login", password=password)
    assert not get_user_model().objects.filter(username="alice-login").exists()


def test_the_sixth_login_is_refused_even_with_the_right_password_until_the_window_passed(
    make_application, start_server, transactional_db, redis_client
):
    """Five wrong passwords for Alice, three on one member and two on the other
    (the count is the pair's): the sixth try is refused with 429 and a message, the
    right password included; once the window has passed, she logs in."""
    window = {"LOGIN_FAILURE_WINDOW_SECONDS": "2"}
    primary = start_server(make_application("throttle-primary", pair="throttle"), **window)
    backup = start_server(make_application("throttle-backup", pair="throttle", role="backup"),
                          serving=False, **window)
    make_agent("alice", "Alice")
    browser = Browser()
    for server in (primary, primary, primary, backup, backup):
        status, _, page = browser.log_in(server, "alice", "not-her-password")
        assert status == 200 and "didn&#x27;t match" in page

    status, headers, page = browser.log_in(primary, "alice", AGENT_PASSWORD)
    assert status == 429
    assert "Too many failed logins" in page and 1 <= int(headers["Retry-After"]) <= 2
    assert browser.cookie("sessionid") is None

    # The event to wait for: Redis forgets the count when the window has passed.
    wait_for(lambda: login_throttle.refused_for("alice", None) is None, 10, "the login throttle's window to pass")
    status, headers, _ = browser.log_in(backup, "alice", AGENT_PASSWORD)
    assert (status, headers["Location"]) == (302, "/agent/")


def test_logins_from_one_address_are_throttled_whatever_the_username(settings, transactional_db, redis_url):
    """Guessing across usernames from one address meets the same wall."""
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 60
    settings.CHAT_TRUSTED_ADDRESSES = []
    make_agent("alice", "Alice")
    http = HttpClient(REMOTE_ADDR="203.0.113.9")
    try:
        for n in range(5):
            assert http.post("/accounts/login/", {"username": f"guess-{n}", "password": "x"}).status_code == 200
        refused = http.post("/accounts/login/", {"username": "alice", "password": AGENT_PASSWORD})
        assert refused.status_code == 429 and b"Too many failed logins" in refused.content
        elsewhere = HttpClient(REMOTE_ADDR="203.0.113.10")
        assert elsewhere.post("/accounts/login/", {"username": "alice", "password": AGENT_PASSWORD}).status_code == 302
    finally:
        login_throttle.clear("", "203.0.113.9")  # the address's count would outlive the test


def test_customers_never_see_an_agents_login_name_or_user_id(server, transactional_db, clients):
    """Carol chats with an agent who has no name: she sees "Agent" and a code, never
    the login name or the user id, in any frame she gets."""
    agent = make_agent("zq-desk-login")
    agent_desk = desk(server, logged_in("zq-desk-login"))
    clients.append(agent_desk)
    agent_desk.send(type="ready")
    carol = Client.open(f"{server.ws}/ws/chat/")
    clients.append(carol)
    carol.send(type="start", nickname="Carol")
    session_id = agent_desk.until(type="assigned")["session_id"]
    joined = carol.until(type="joined", role="agent")
    agent_desk.send(type="typing", session_id=session_id, state=True)
    carol.until(type="typing")
    agent_desk.send(type="message", session_id=session_id, text="Hello Carol", client_id="c1")
    carol.until(type="message", text="Hello Carol")
    agent_desk.send(type="leave", session_id=session_id)
    carol.until(type="left")

    assert re.fullmatch(r"Agent [0-9A-F]{4}", joined["nickname"])
    seen = json.dumps(carol.frames)
    assert "zq-desk-login" not in seen.lower()
    assert {frame["from"] for frame in carol.frames if "from" in frame} == {
        carol.frames[0]["participant_id"], public_id(agent.pk)
    }
    assert public_id(agent.pk) != f"agent-{agent.pk}" and f'"agent-{agent.pk}"' not in seen


def test_a_member_whose_redis_subscription_was_cut_still_closes_sockets_on_logout(
    server, transactional_db, redis_client, clients
):
    """Redis drops the member's subscriptions (CLIENT KILL), its logouts' among them:
    the member subscribes again, and Alice's logout still closes her socket."""
    channel = rediskeys.logouts()

    def subscriptions() -> set[str] | None:
        """The Redis client ids of the server's subscriptions (logouts, operator
        commands), once the logouts' is there."""
        ports = {conn.laddr.port for conn in psutil.Process(server.process.pid).net_connections("tcp")}
        if dict(redis_client.pubsub_numsub(channel)).get(channel) != 1:
            return None
        return {client["id"] for client in redis_client.client_list(_type="pubsub")
                if int(client["addr"].rsplit(":", 1)[1]) in ports} or None

    cut = wait_for(subscriptions, 10, "the server to subscribe to logouts")
    for client_id in cut:
        redis_client.client_kill_filter(_id=client_id)
    wait_for(lambda: (now := subscriptions()) is not None and not now & cut, 10,
             "the server to subscribe to logouts again")

    make_agent("alice", "Alice")
    http = HttpClient()
    assert http.login(username="alice", password=AGENT_PASSWORD)
    alice_desk = desk(server, http.cookies["sessionid"].value)
    clients.append(alice_desk)
    alice_desk.send(type="ready")
    http.logout()
    with pytest.raises(ConnectionClosed) as closed:
        alice_desk.until(type="never")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_FORBIDDEN


def test_an_agent_cached_by_an_older_version_is_read_again_not_refused(server, transactional_db, redis_client):
    """After an upgrade, the identity an older version cached for Alice (no word on
    being an agent) is read again from the database: her desk opens."""
    alice = make_agent("alice", "Alice")
    cookie = logged_in("alice")
    entry = rediskeys.user_of_session(login_hash(cookie))
    redis_client.set(entry, json.dumps({"pk": alice.pk, "username": "alice", "full_name": "Alice",
                                        "is_active": True, "is_authenticated": True}))
    desk(server, cookie).close()
    assert json.loads(redis_client.get(entry))["is_agent"] is True


def test_the_admin_login_is_no_way_around_the_throttle(settings, transactional_db, redis_url):
    """Five wrong passwords for root on the admin's login: the sixth try, the right
    password included, is refused there too, with the same message."""
    settings.CHAT_TRUSTED_ADDRESSES = ["127.0.0.0/8"]
    get_user_model().objects.create_superuser("root", "root@example.com", AGENT_PASSWORD)
    http = HttpClient()
    try:
        for _ in range(5):
            wrong = http.post("/admin/login/", {"username": "root", "password": "x", "next": "/admin/"})
            assert wrong.status_code == 200 and b"Too many failed logins" not in wrong.content
        refused = http.post("/admin/login/", {"username": "root", "password": AGENT_PASSWORD, "next": "/admin/"})
        assert b"Too many failed logins" in refused.content and "sessionid" not in http.cookies
    finally:
        login_throttle.clear("root", None)
