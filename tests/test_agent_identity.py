"""Agent sockets find their user in Redis after the first socket of a login
(chat.identity): what the cache keeps must never outlive what it was made from."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client as HttpClient
from websockets.exceptions import InvalidStatus

from chat.agents import public_id

from .conftest import AGENT_PASSWORD
from .harness import Client


def login(username: str) -> HttpClient:
    call_command("createagent", username, password=AGENT_PASSWORD, name=username.title())
    http = HttpClient()
    assert http.login(username=username, password=AGENT_PASSWORD)
    return http


def desk(server, http: HttpClient) -> Client:
    return Client.open(f"{server.ws}/ws/agent/", cookie=http.cookies["sessionid"].value)


def assert_refused(server, http: HttpClient) -> None:
    with pytest.raises(InvalidStatus) as refused:
        desk(server, http)
    assert refused.value.response.status_code == 403


def test_a_second_socket_of_a_login_is_the_same_agent(server, transactional_db):
    http = login("alice")
    first, second = desk(server, http), desk(server, http)
    for socket in (first, second):
        socket.send(type="ready")
    carol = Client.open(f"{server.ws}/ws/chat/")
    carol.send(type="start", nickname="Carol")
    assigned = [socket.until(type="assigned") for socket in (first, second)]
    assert {frame["participant_id"] for frame in assigned} == {public_id(get_user_model().objects.get(
        username="alice").pk)}


def test_an_agent_who_logged_out_cannot_open_the_desk_with_the_old_cookie(server, transactional_db):
    http = login("alice")
    desk(server, http).close()  # the first socket leaves the user in Redis
    cookie = http.cookies["sessionid"].value
    http.logout()
    http.cookies["sessionid"] = cookie
    assert_refused(server, http)


def test_a_deactivated_agent_cannot_open_the_desk(server, transactional_db):
    http = login("alice")
    desk(server, http).close()
    user = get_user_model().objects.get(username="alice")
    user.is_active = False
    user.save()
    assert_refused(server, http)


def test_a_new_password_ends_the_logins_made_with_the_old_one(server, transactional_db):
    http = login("alice")
    desk(server, http).close()
    user = get_user_model().objects.get(username="alice")
    user.set_password("another secret")
    user.save()
    assert_refused(server, http)
