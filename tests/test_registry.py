"""Every way a socket goes away ends in the registry, in-process against real
Redis: nobody stays attached to a chat, or available for one, through a socket
that is gone (a ghost)."""
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from redis import exceptions as redis_errors

from chat.frames import CLOSE_INTERNAL_ERROR
from chat.identity import KnownUser
from chat.service import ChatService
from chat.session import Participant

from .inprocess import ALICE, FakeSocket, StandInInstance, client, new_pair, set_epoch, until


def chatting(redis_url: str, test: Callable[[ChatService, FakeSocket, FakeSocket, str], Awaitable[None]]) -> None:
    """Run ``test`` on a serving chat service where alice (an agent) and carol
    (a customer) are chatting."""

    async def scenario() -> None:
        redis, pair = client(redis_url), new_pair()
        await set_epoch(redis, pair, 1)
        instance = StandInInstance(redis, pair, epoch=1)
        chats = ChatService(instance)
        await instance.listener.serve(1, takeover=False, previous="")
        alice, carol = FakeSocket(), FakeSocket()
        chats.connected(alice)
        await chats.agent_connected(alice, ALICE)
        await chats.ready(alice, True)
        chats.connected(carol)
        await chats.start(carol, "Carol", "")
        [started] = carol.got(type="started")
        assert alice.got(type="assigned")
        try:
            await test(chats, alice, carol, started["session_id"])
        finally:
            await redis.aclose()

    asyncio.run(scenario())


async def agent_on_a_consumer(chats: ChatService, monkeypatch, alice: FakeSocket) -> tuple[Any, str, FakeSocket, str]:
    """Bob, an agent on a real AgentConsumer (driven by Channels' communicator) in
    place of alice, holding a chat with dave (a FakeSocket): (bob, his id, dave,
    the chat's id)."""
    from channels.testing import WebsocketCommunicator

    from chat import service as chat_service
    from chat.consumers import AgentConsumer
    from ha import runtime

    bob_id = Participant.agent(7, "Bob").id
    monkeypatch.setattr(runtime, "_current", chats.instance)
    monkeypatch.setattr(chat_service, "_service", chats)
    await chats.disconnected(alice)
    bob = WebsocketCommunicator(AgentConsumer.as_asgi(), "/ws/agent/")
    bob.scope["user"] = KnownUser(pk=7, username="bob", display_name="Bob", is_active=True, is_agent=True)
    assert (await bob.connect())[0]
    await bob.send_json_to({"type": "ready"})
    await until(lambda: chats.registry.agent(bob_id), "bob to be present")
    chats.connected(dave := FakeSocket())
    await chats.start(dave, "Dave", "")
    assigned = await bob.receive_json_from()
    while assigned["type"] != "assigned":
        assigned = await bob.receive_json_from()
    return bob, bob_id, dave, assigned["session_id"]


async def next_frame(bob: Any, **match: Any) -> dict[str, Any]:
    while True:
        frame = await bob.receive_json_from(5)
        if all(frame.get(key) == value for key, value in match.items()):
            return frame


def test_an_error_nobody_expected_in_a_frame_closes_the_socket_as_a_disconnect_would(redis_url, monkeypatch):
    """The consumer's way out: a frame that fails for a reason nobody foresaw (a
    bug) closes the socket (4011) and runs the clean-up of a disconnect, which
    Channels alone would skip: the chat is told, the agent is no longer routed to."""

    async def test(chats: ChatService, alice: FakeSocket, carol: FakeSocket, session_id: str) -> None:
        bob, bob_id, dave, dave_session = await agent_on_a_consumer(chats, monkeypatch, alice)

        async def breaks_on_the_first_message(session, event):
            if event["type"] == "message":
                chats.stored_hooks.remove(breaks_on_the_first_message)
                raise RuntimeError("a bug")

        chats.stored_hooks.append(breaks_on_the_first_message)
        await bob.send_json_to({"type": "message", "session_id": dave_session, "text": "hello", "client_id": "c1"})
        while (output := await bob.receive_output(5))["type"] != "websocket.close":
            pass
        assert output["code"] == CLOSE_INTERNAL_ERROR
        [gone] = await until(lambda: dave.got(type="disconnected"), "dave to be told bob went")
        assert gone["from"] == bob_id
        assert chats.registry.agent(bob_id) is None, "bob is still available for new chats"
        assert chats.registry.followers(dave_session) == {dave}
        await bob.disconnect()

    chatting(redis_url, test)


def test_redis_failing_mid_frame_gets_an_error_changes_nothing_and_keeps_the_socket(redis_url, monkeypatch):
    """A Redis blip under a message: the sender is told (unavailable), nothing is
    stored or sent, and the same message sent again goes through once."""

    async def test(chats: ChatService, alice: FakeSocket, carol: FakeSocket, session_id: str) -> None:
        bob, bob_id, dave, dave_session = await agent_on_a_consumer(chats, monkeypatch, alice)
        before = chats.sessions[dave_session].last_seq
        append = chats.messages.log.append

        async def blip(*args: Any, **kwargs: Any) -> Any:
            monkeypatch.setattr(chats.messages.log, "append", append)
            raise redis_errors.ConnectionError("Connection reset by peer")

        monkeypatch.setattr(chats.messages.log, "append", blip)
        message = {"type": "message", "session_id": dave_session, "text": "hello", "client_id": "c1"}
        await bob.send_json_to(message)
        assert (await next_frame(bob, type="error"))["code"] == "unavailable"
        assert chats.sessions[dave_session].last_seq == before and not dave.got(type="message")
        assert chats.registry.agent(bob_id) is not None

        await bob.send_json_to(message)
        assert (await next_frame(bob, type="message"))["seq"] == before + 1
        assert [m["text"] for m in dave.got(type="message")] == ["hello"]
        await bob.disconnect()

    chatting(redis_url, test)


def test_a_socket_a_send_to_fails_is_closed_detached_and_the_chat_is_told(redis_url):
    async def test(chats: ChatService, alice: FakeSocket, carol: FakeSocket, session_id: str) -> None:
        alice.broken = True
        await chats.message(carol, None, "anyone there?", "c1")

        gone = await until(lambda: carol.got(type="disconnected"), "carol to be told alice went")
        assert gone[0]["from"] == ALICE.id
        assert alice.closed == CLOSE_INTERNAL_ERROR
        assert chats.registry.agent(ALICE.id) is None
        assert chats.sessions[session_id].connected == {chats.sessions[session_id].customer.id}
        await chats.disconnected(alice)  # its disconnect, when it comes, changes nothing
        assert len(carol.got(type="disconnected")) == 1

    chatting(redis_url, test)


def test_a_resume_that_outlives_its_socket_attaches_nothing(redis_url):
    async def test(chats: ChatService, alice: FakeSocket, carol: FakeSocket, session_id: str) -> None:
        token = carol.got(type="started")[0]["token"]
        again = FakeSocket()
        chats.connected(again)
        events_after = chats.messages.log.events_after

        async def socket_goes_meanwhile(*args):
            await chats.disconnected(again)
            return await events_after(*args)

        chats.messages.log.events_after = socket_goes_meanwhile
        await chats.resume(again, session_id, token, 0)

        assert again.frames == []
        assert again not in chats.registry.followers(session_id)
        assert not carol.got(type="disconnected"), "carol's own socket still follows the chat"

    chatting(redis_url, test)


def test_a_second_socket_of_the_same_participant_keeps_it_connected(redis_url):
    async def test(chats: ChatService, alice: FakeSocket, carol: FakeSocket, session_id: str) -> None:
        desk = FakeSocket()
        chats.connected(desk)
        await chats.agent_connected(desk, ALICE)
        await chats.agent_resume(desk, {session_id: 0})
        await chats.disconnected(alice)

        assert not carol.got(type="disconnected")
        assert chats.registry.followers(session_id) == {carol, desk}
        await chats.disconnected(desk)
        assert carol.got(type="disconnected")[0]["from"] == ALICE.id

    chatting(redis_url, test)
