"""The queue through the chat service, in-process against real Redis: order and
places under concurrent starts, leaves and agent changes (Hypothesis draws the
interleavings), a resume while waiting, and a takeover of a waiting line."""
from __future__ import annotations

import asyncio
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.exceptions import ConnectionError as RedisConnectionError

from chat.service import ChatService
from chat.session import ChatError, Participant, Status
from chat.waiting import waits

from .inprocess import FakeSocket, StandInInstance, set_epoch, with_chat_service

CAPACITY = 2
AGENTS = 3

# What happens at once in one round: n picks a customer or agent (modulo how many there are).
operation = st.tuples(
    st.sampled_from(["start", "start", "customer-leaves", "agent-ready", "agent-away", "agent-closes",
                     "agent-leaves"]),
    st.integers(min_value=0, max_value=99),
)
rounds = st.lists(st.lists(operation, min_size=1, max_size=6), min_size=1, max_size=8)


class Center:
    """Customers and agents on fake sockets around one ChatService."""

    def __init__(self, chats: ChatService) -> None:
        self.chats = chats
        self.customers: list[FakeSocket] = []
        self.agents = [(FakeSocket(), Participant.agent(n + 1, f"agent{n + 1}")) for n in range(AGENTS)]
        self.agents_in: set[int] = set()

    async def do(self, op: str, n: int) -> None:
        """One call, as a consumer makes it: a refused one is an error frame, no more."""
        try:
            await self._do(op, n)
        except ChatError:
            pass

    async def _do(self, op: str, n: int) -> None:
        chats = self.chats
        if op == "start":
            socket = FakeSocket()
            self.customers.append(socket)
            chats.connected(socket)
            await chats.start(socket, f"c{len(self.customers)}", "")
        elif op == "customer-leaves" and self.customers:
            socket = self.customers[n % len(self.customers)]
            if chats.registry.sessions(socket) and not socket.got(type="closed"):
                await chats.leave(socket, None)
        elif op.startswith("agent"):
            index = n % AGENTS
            socket, agent = self.agents[index]
            if index not in self.agents_in:
                self.agents_in.add(index)
                chats.connected(socket)
                await chats.agent_connected(socket, agent)
            if op in ("agent-ready", "agent-away"):
                await chats.ready(socket, op == "agent-ready")
                return
            mine = sorted(s for s in chats.registry.sessions(socket) if s in chats.sessions)
            if mine:
                call = chats.close if op == "agent-closes" else chats.leave
                await call(socket, mine[n % len(mine)])


def run_rounds(redis_url: str, drawn: list[list[tuple[str, int]]], assigned: list[int]) -> None:
    async def scenario(chats: ChatService) -> None:
        center = Center(chats)
        messages = chats.messages
        for ops in drawn:
            before = list(messages.waiting)
            await asyncio.gather(*(center.do(op, n) for op, n in ops))
            line = list(messages.waiting)
            # One order, in memory and in Redis, holding exactly the chats that wait.
            assert line == await messages.log.queue()
            assert set(line) == {sid for sid, s in chats.sessions.items() if waits(s)}
            # First come, first served: no chat given an agent while one ahead of it still waits.
            given_one = [sid for sid in before if chats.sessions.get(sid) is not None
                         and chats.sessions[sid].status is Status.ACTIVE]
            still = [sid for sid in before if sid in messages.waiting]
            assert not given_one or not still or before.index(given_one[-1]) < before.index(still[0])
            # No agent over capacity, and none with room while a chat waits.
            for _, agent in center.agents:
                have = sum(1 for s in chats.sessions.values() if s.agent and s.agent.id == agent.id)
                assert messages.loads[agent.id] == have <= CAPACITY
                presence = chats.registry.agent(agent.id)
                if line and presence is not None and presence.available:
                    assert have == CAPACITY, "an available agent with room while a chat waits"
        assigned.append(sum(len(socket.got(type="assigned")) for socket, _ in center.agents))
        # Every waiting customer, told its place, has it exactly.
        await chats.queue.tell_places(time.monotonic() + 60)
        for socket in center.customers:
            [session_id] = chats.registry.sessions(socket) or [None]
            if session_id is None or session_id not in messages.waiting:
                continue
            places = socket.got(type="notice", notice="queued")
            assert places[-1]["position"] == messages.waiting.position(session_id)
            assert [p for p in places if "seq" in p][:1], "the wait's one stored queued notice"

    with_chat_service(redis_url, scenario, **{"agent-capacity": str(CAPACITY)})


@given(rounds)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_order_and_places_stay_right_under_concurrent_starts_leaves_and_agent_changes(redis_url, drawn):
    run_rounds(redis_url, drawn, ASSIGNED)


ASSIGNED: list[int] = []  # chats given to agents in each example: the property test must route some


def test_the_interleavings_above_gave_chats_to_agents():
    assert sum(ASSIGNED) > 0


def test_a_waiting_customer_who_resumes_gets_its_current_place(redis_url):
    async def scenario(chats: ChatService) -> None:
        sockets = [FakeSocket() for _ in range(3)]
        for number, socket in enumerate(sockets):
            chats.connected(socket)
            await chats.start(socket, f"c{number}", "")
        started = sockets[2].got(type="started")[0]
        await chats.leave(sockets[0], None)  # the first leaves: the third is now second
        again = FakeSocket()
        chats.connected(again)
        await chats.resume(again, started["session_id"], started["token"], 0)
        [place] = [f for f in again.got(type="notice", notice="queued") if "seq" not in f]
        assert place["position"] == 2

    with_chat_service(redis_url, scenario)


def test_a_takeover_restores_the_waiting_line_in_order_and_the_next_agent_takes_the_first(redis_url):
    async def scenario(old: ChatService) -> None:
        redis, pair = old.instance.redis, old.instance.pair
        for number in range(6):
            socket = FakeSocket()
            old.connected(socket)
            await old.start(socket, f"c{number}", "")
        await old.leave(next(iter(old.registry.followers(list(old.messages.waiting)[2]))), None)
        line = list(old.messages.waiting)

        await set_epoch(redis, pair, 2)
        new = ChatService(StandInInstance(redis, pair, epoch=2, **{"session-restoration-mode": "simple",
                                                                  "agent-capacity": "1"}))
        await new.role_changes.serve(2, takeover=True, previous="the old primary")
        assert list(new.messages.waiting) == line == await new.messages.log.queue()
        agent_socket, agent = FakeSocket(), Participant.agent(7, "alice")
        new.connected(agent_socket)
        await new.agent_connected(agent_socket, agent)
        await new.ready(agent_socket, True)
        assert agent_socket.got(type="assigned")[0]["session_id"] == line[0]
        [joined] = agent_socket.got(type="joined", role="agent")
        assert isinstance(joined["waited_s"], int) and joined["waited_s"] >= 0  # what the transcript keeps
        assert list(new.messages.waiting) == line[1:]

    with_chat_service(redis_url, scenario)


def test_a_queued_notice_that_redis_failed_to_store_is_stored_on_the_next_round(redis_url):
    """Redis fails the store of a wait's queued notice: the start still stands (its
    socket stays), nothing half-stored is left, and the next round stores it."""
    async def scenario(chats: ChatService) -> None:
        log, real_append, failures = chats.messages.log, chats.messages.log.append, []

        async def failing_once(epoch, event, **options):
            if event.get("notice") == "queued" and not failures:
                failures.append(event)
                raise RedisConnectionError("Redis went away mid-frame")
            return await real_append(epoch, event, **options)

        log.append = failing_once
        carol = FakeSocket()
        chats.connected(carol)
        await chats.start(carol, "Carol", "")
        session_id = carol.got(type="started")[0]["session_id"]
        assert failures and carol.closed is None
        assert [e["type"] for e in await log.events_after(session_id, 0)] == ["joined"]

        await chats.queue.route()  # the next round (chat.queue's once-a-second loop)
        [notice] = carol.got(type="notice", notice="queued")
        assert (notice["seq"], notice["position"]) == (2, 1)

    with_chat_service(redis_url, scenario)
