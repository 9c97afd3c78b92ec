"""A frame whose handler is cancelled (daphne cancels the handler of a socket that
closed, after application_close_timeout) leaves no ghost: what it wrote to the
live log is in memory too, and routing it set off goes to its end. In-process,
real Redis."""
import asyncio
import contextlib

from chat.service import ChatService
from chat.session import Participant
from chatsite import rediskeys

from .inprocess import FakeSocket, until, with_chat_service


async def agent_ready(chats: ChatService, agent_id: int) -> FakeSocket:
    socket = FakeSocket()
    chats.connected(socket)
    await chats.agent_connected(socket, Participant.agent(agent_id, f"Agent {agent_id}"))
    await chats.ready(socket, True)
    return socket


async def cancelled_soon(work) -> None:
    """Start ``work`` and cancel it once its first write is on its way to Redis."""
    task = asyncio.ensure_future(work)
    await asyncio.sleep(0)  # the frame has begun: its append is asked for
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def test_a_start_cancelled_in_the_middle_leaves_memory_and_the_live_log_alike(redis_url):
    async def scenario(chats: ChatService) -> None:
        await agent_ready(chats, 1)
        carol = FakeSocket()
        chats.connected(carol)
        await cancelled_soon(chats.start(carol, "Carol", ""))
        redis, pair = chats.instance.redis, chats.instance.pair
        [session_id] = [raw.decode() for raw in await redis.smembers(rediskeys.pair_open_sessions(pair))]
        session = await until(lambda: chats.sessions.get(session_id), "the session in memory")
        stored = await redis.llen(rediskeys.session_log(session_id))
        await until(lambda: session.last_seq == stored, f"memory at seq {stored} as the live log")

    with_chat_service(redis_url, scenario)


def test_routing_set_off_by_a_cancelled_frame_still_gives_every_waiting_chat_an_agent(redis_url):
    """Alice's ``ready`` waits for the routing lock when its socket goes; the routing
    it set off still gives her the five waiting chats."""
    async def scenario(chats: ChatService) -> None:
        for n in range(5):  # they wait: no agent yet
            customer = FakeSocket()
            chats.connected(customer)
            await chats.start(customer, f"Customer {n}", "")
        assert len(chats.messages.waiting) == 5
        alice = FakeSocket()
        chats.connected(alice)
        await chats.agent_connected(alice, Participant.agent(1, "Alice"))
        routing = chats.queue.routing
        await routing.acquire()  # another routing under way
        ready = asyncio.ensure_future(chats.ready(alice, True))
        await until(lambda: routing._waiters, "alice's ready to wait for the routing lock")
        ready.cancel()
        await asyncio.sleep(0)
        routing.release()
        with contextlib.suppress(asyncio.CancelledError):
            await ready
        await until(lambda: len(chats.messages.waiting) == 0, "every waiting chat routed")
        assert len([frame for frame in alice.frames if frame.get("type") == "assigned"]) == 5

    with_chat_service(redis_url, scenario, **{"agent-capacity": "10"})


def test_a_start_cancelled_after_its_write_leaves_the_customer_disconnected(redis_url):
    """Its socket went before it heard of its chat: the chat waits for the customer
    to come back (participant-return-timeout), as after any drop."""
    async def scenario(chats: ChatService) -> None:
        carol = FakeSocket()
        chats.connected(carol)
        await cancelled_soon(chats.start(carol, "Carol", ""))
        [session] = await until(lambda: list(chats.sessions.values()), "the session in memory")
        await until(lambda: session.customer.id in session.away_since, "the customer marked away")

    with_chat_service(redis_url, scenario)
