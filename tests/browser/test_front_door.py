"""Through the front door (issue 12): a real HAProxy, configured by
ha.frontdoor from the pair's rows, in front of a real pair; the pages loaded
from it outlive the member that served them."""
from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect

from ha import frontdoor
from tests.conftest import run_switchover
from tests.harness import ARTIFACTS, free_port, http_get, wait_for

from .conftest import FAILOVER_TIMEOUT_MS
from .pagekit import assert_each_seq_once, expect_message, message_texts, panel, say, start_chat


@dataclass
class FrontDoor:
    port: int
    process: subprocess.Popen

    @property
    def http(self) -> str:
        return frontdoor.origin("127.0.0.1", self.port)


@pytest.fixture
def start_front_door(request) -> Iterator[Callable[[str, int], FrontDoor]]:
    """Write the config of a pair's front door on ``port`` and run haproxy on it; killed after the test."""
    started: list[FrontDoor] = []

    def start(pair: str, port: int) -> FrontDoor:
        haproxy = frontdoor.haproxy_binary()
        assert haproxy is not None, "haproxy is missing: make test installs it (apt-get install haproxy)"
        _, members = frontdoor.members_of(pair)
        config = frontdoor.write(ARTIFACTS / "frontdoor" / f"{request.node.name}.cfg",
                                 frontdoor.render(pair, members, port=port))
        assert frontdoor.check(haproxy, config) is None
        log = (ARTIFACTS / "logs" / f"{request.node.name}-haproxy.log").open("ab")
        door = FrontDoor(port, subprocess.Popen(frontdoor.command(haproxy, config), stdout=log,
                                                stderr=subprocess.STDOUT))
        started.append(door)
        wait_for(lambda: door.process.poll() is None and http_get(f"{door.http}/readyz")[0] == 200, 10,
                 "the front door to reach the serving member")
        return door

    yield start
    for door in started:
        door.process.kill()
        door.process.wait(10)


def door_port(*applications) -> int:
    """A free port for the door that no member has been given (they do not listen yet)."""
    taken = {application.port for application in applications}
    port = free_port()
    while port in taken:
        port = free_port()
    return port


def test_the_pages_of_the_front_door_outlive_a_kill_9_of_the_primary(make_application, start_server, pages,
                                                                       login_agent, start_front_door):
    """Carol and alice come in through the door; the primary dies; they chat on, reload, and the chat is whole."""
    pair = f"pair-{uuid.uuid4().hex[:6]}"
    primary_app = make_application(pair=pair, role="primary", session_restoration_mode="simple")
    backup_app = make_application(pair=pair, role="backup", session_restoration_mode="simple")
    port = door_port(primary_app, backup_app)
    door_origin = frontdoor.origin("127.0.0.1", port)
    primary = start_server(primary_app, CHAT_ALLOWED_ORIGINS=door_origin)
    start_server(backup_app, serving=False, CHAT_ALLOWED_ORIGINS=door_origin)
    door = start_front_door(pair, port)
    assert http_get(f"{door.http}/metrics")[0] == 403  # the operator's, on the members only

    desk = login_agent(pages, door.http, "alice")
    desk.check("#available")
    carol = pages.open("customer", f"{door.http}/")
    start_chat(carol, "Carol", "front door")
    chat = panel(desk)
    say(carol, "through the door")
    expect_message(chat, "through the door")
    for page in (carol, desk):
        # Connected to the door itself (its address), which reached the primary.
        expect(page.locator("#server")).to_have_text(f"{primary_app.name} (127.0.0.1:{port})")

    primary.process.kill()
    primary.process.wait(10)
    say(carol, "while the primary is dead")
    for page in (carol, desk):
        expect(page.locator("#server")).to_have_text(f"{backup_app.name} (127.0.0.1:{port})",
                                                     timeout=FAILOVER_TIMEOUT_MS)
        expect(page.locator("#epoch")).to_have_text("2")
    expect_message(chat, "while the primary is dead", timeout=FAILOVER_TIMEOUT_MS)
    say(chat, "from the backup")
    expect_message(carol, "from the backup")

    for page in (carol, desk):
        page.reload()  # the page comes from the door, which now reaches the backup
        expect(page.locator("#status")).to_have_attribute("data-state", "open", timeout=FAILOVER_TIMEOUT_MS)
        expect(page.locator("#server")).to_have_text(f"{backup_app.name} (127.0.0.1:{port})")
    chat = panel(desk)
    expected = ["through the door", "while the primary is dead", "from the backup"]
    for root in (carol, chat):
        for text in expected:
            expect_message(root, text)
    say(carol, "after the reload")
    expect_message(chat, "after the reload")
    say(chat, "still here")
    expect_message(carol, "still here")

    for root in (carol, chat):
        assert message_texts(root) == [*expected, "after the reload", "still here"]
        assert_each_seq_once(root)
    expect(desk.locator("#chats section.panel")).to_have_count(1)


def test_the_pages_of_the_front_door_follow_a_switchover_through_it(make_application, start_server, pages,
                                                                     login_agent, start_front_door, redis_url):
    """ha_switchover moves the pair; the pages, told the new primary's own address, stay on the door."""
    pair = f"pair-{uuid.uuid4().hex[:6]}"
    primary_app = make_application(pair=pair, role="primary", session_restoration_mode="simple")
    backup_app = make_application(pair=pair, role="backup", session_restoration_mode="simple")
    port = door_port(primary_app, backup_app)
    door_origin = frontdoor.origin("127.0.0.1", port)
    start_server(primary_app, CHAT_ALLOWED_ORIGINS=door_origin)
    start_server(backup_app, serving=False, CHAT_ALLOWED_ORIGINS=door_origin)
    door = start_front_door(pair, port)
    desk = login_agent(pages, door.http, "alice")
    desk.check("#available")
    carol = pages.open("customer", f"{door.http}/")
    start_chat(carol, "Carol", "switchover")
    chat = panel(desk)
    say(carol, "before")
    expect_message(chat, "before")

    switched = run_switchover(pair, redis_url)
    assert switched.returncode == 0, switched.stdout + switched.stderr
    for page in (carol, desk):
        expect(page.locator("#server")).to_have_text(f"{backup_app.name} (127.0.0.1:{port})",
                                                     timeout=FAILOVER_TIMEOUT_MS)
        expect(page.locator("#status")).to_have_attribute("data-state", "open")
    say(carol, "after")
    expect_message(chat, "after")
    say(chat, "still here")
    expect_message(carol, "still here")
    for root in (carol, chat):
        assert message_texts(root) == ["before", "after", "still here"]
        assert_each_seq_once(root)
    kept = carol.evaluate("JSON.parse(sessionStorage.getItem('chat.customer.servers'))")
    assert kept["frontDoor"] is True, kept
