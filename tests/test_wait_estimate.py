"""The wait estimate against a real chat server: as an agent answers chats, a
waiting customer's queued notices carry a smaller estimated wait each time its
place moves, and GET /api/chat/availability says what a new chat would wait. And,
in process: a takeover starts with no answers, so no estimate until its first."""
import json
import time

import pytest

from chat.service import ChatService
from chat.session import Participant

from .harness import Client, http_get, open_customer, wait_for
from .inprocess import FakeSocket, StandInInstance, set_epoch, with_chat_service


@pytest.fixture
def one_chat_each_server(make_application, start_server):
    """An agent holds one chat at a time: every other chat waits."""
    return start_server(make_application(agent_capacity="1"))

def availability(server) -> dict:
    status, body = http_get(f"{server.http}/api/chat/availability")
    assert status == 200, body
    return json.loads(body)


def expected_wait_becomes(server, check, what: str) -> dict:
    """The availability answer once ``check`` holds of it (the serving member
    writes the summary behind it once a second)."""

    def holds() -> dict | None:
        answer = availability(server)
        return answer if check(answer) else None

    return wait_for(holds, 10, what)


def test_a_waiting_customer_sees_a_smaller_estimate_each_time_an_agent_answers_a_chat(
        one_chat_each_server, clients, agent_cookie):
    server = one_chat_each_server
    assert availability(server)["expected_wait_s"] is None  # no agent, and nobody answered yet: no basis
    alice = Client.open(f"{server.ws}/ws/agent/", cookie=agent_cookie("alice"))
    clients.append(alice)
    alice.send(type="ready")
    expected_wait_becomes(server, lambda a: a["expected_wait_s"] == 0 and a["waiting"] == 0,
                          "a new chat's wait to be 0: alice has room")

    first = open_customer(server, clients, "Ann")
    alice.until(type="assigned", session_id=first.started["session_id"])
    waiting = [open_customer(server, clients, name) for name in ("Bea", "Cid", "Dan")]
    carol = open_customer(server, clients, "Carol")
    [stored] = [carol.until(type="notice", notice="queued")]
    assert stored["position"] == 4 and "seq" in stored
    estimates = [stored["estimated_wait_s"]]
    new_chat = expected_wait_becomes(server, lambda a: a["waiting"] == 4, "four chats waiting")
    assert new_chat["expected_wait_s"] >= estimates[0]  # behind Carol

    answering = first
    for place in (3, 2, 1):
        alice.send(type="close", session_id=answering.started["session_id"])
        answering = waiting.pop(0)
        alice.until(type="assigned", session_id=answering.started["session_id"])
        moved = carol.until(type="notice", notice="queued", position=place)
        assert "seq" not in moved  # an ephemeral frame
        estimates.append(moved["estimated_wait_s"])

    assert estimates == sorted(estimates, reverse=True) and len(set(estimates)) == len(estimates), estimates
    assert all(isinstance(s, int) and s > 0 and s % 30 == 0 for s in estimates), estimates

    # When Carol's turn comes, the agent's joined says how long she waited.
    alice.send(type="close", session_id=answering.started["session_id"])
    carol.until(type="joined", role="agent")


def test_a_customer_who_resumes_while_waiting_gets_the_estimate_with_the_place(
        one_chat_each_server, clients, agent_cookie):
    server = one_chat_each_server
    alice = Client.open(f"{server.ws}/ws/agent/", cookie=agent_cookie("alice"))
    clients.append(alice)
    alice.send(type="ready")
    open_customer(server, clients, "Ann")
    alice.until(type="assigned")
    carol = open_customer(server, clients, "Carol")
    told = carol.until(type="notice", notice="queued")
    carol.close()
    again = Client.open(f"{server.ws}/ws/chat/")
    clients.append(again)
    again.send(type="resume", session_id=carol.started["session_id"], token=carol.started["token"],
               last_seq=told["seq"])
    place = again.until(type="notice", notice="queued")
    assert "seq" not in place and place["position"] == 1
    assert isinstance(place["estimated_wait_s"], int) and place["estimated_wait_s"] > 0


def test_after_a_takeover_there_is_no_estimate_until_the_new_primary_answers_a_chat(redis_url):
    async def scenario(old: ChatService) -> None:
        redis, pair = old.instance.redis, old.instance.pair
        agent_socket, agent = FakeSocket(), Participant.agent(7, "alice")
        old.connected(agent_socket)
        await old.agent_connected(agent_socket, agent)
        await old.ready(agent_socket, True)
        customers = [FakeSocket() for _ in range(3)]
        for number, socket in enumerate(customers):
            old.connected(socket)
            await old.start(socket, f"c{number}", "")
        [told] = customers[2].got(type="notice", notice="queued")
        assert told["position"] == 2 and told["estimated_wait_s"] > 0  # one answer seen: a basis

        await set_epoch(redis, pair, 2)
        new = ChatService(StandInInstance(redis, pair, epoch=2, **{"session-restoration-mode": "simple",
                                                                  "agent-capacity": "1"}))
        await new.role_changes.serve(2, takeover=True, previous="the old primary")
        assert len(new.messages.answers) == 0 and new.queue.new_chat_wait_s() is None
        again = FakeSocket()
        new.connected(again)
        started = customers[2].got(type="started")[0]
        await new.resume(again, started["session_id"], started["token"], told["seq"])
        [place] = again.got(type="notice", notice="queued")
        assert place["position"] == 2 and "estimated_wait_s" not in place  # no basis yet

        # The new primary's first answer: alice comes back and takes the first in line.
        agent_again = FakeSocket()
        new.connected(agent_again)
        await new.agent_connected(agent_again, agent)
        await new.agent_resume(agent_again, {s: 0 for s in old.registry.sessions(agent_socket)})
        await new.close(agent_again, next(iter(old.registry.sessions(agent_socket))))
        await new.ready(agent_again, True)
        assert len(new.messages.answers) == 1
        await new.queue.tell_places(time.monotonic() + 60)
        latest = again.got(type="notice", notice="queued")[-1]
        assert latest["position"] == 1 and latest["estimated_wait_s"] > 0

    with_chat_service(redis_url, scenario, **{"agent-capacity": "1"})
