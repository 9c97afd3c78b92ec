"""Every way a socket goes away ends in the registry, in-process against real
Redis: nobody stays attached to a chat, or available for one, through a socket
that is gone (a ghost)."""
import asyncio
from collections.abc import Awaitable, Callable

import pytest

from chat.registry import CLOSE_INTERNAL_ERROR
from chat.service import ChatService

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


def test_an_error_nobody_expected_in_a_call_detaches_the_socket_and_the_chat_is_told(redis_url):
    async def test(chats: ChatService, alice: FakeSocket, carol: FakeSocket, session_id: str) -> None:
        async def breaks_on_the_first_message(session, event):
            if event["type"] == "message":
                chats.stored_hooks.remove(breaks_on_the_first_message)
                raise RuntimeError("a bug")

        chats.stored_hooks.append(breaks_on_the_first_message)
        with pytest.raises(RuntimeError):
            await chats.message(alice, session_id, "hello", "c1")

        [gone] = carol.got(type="disconnected")
        assert gone["from"] == ALICE.id
        assert chats.registry.followers(session_id) == {carol}
        assert chats.registry.agent(ALICE.id) is None, "alice is still available for new chats"
        dave = FakeSocket()
        chats.connected(dave)
        await chats.start(dave, "Dave", "")
        assert not alice.got(type="assigned", session_id=dave.got(type="started")[0]["session_id"])

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
