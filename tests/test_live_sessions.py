"""The live sessions' plain modules (issue 12), in-process: a row is the session
the live log rebuilds, the list reads only the pairs asked for, and an
operator's close is published, carried out by the instance that holds the
session only, and reported as it turned out."""
from __future__ import annotations

import asyncio
import json
import threading
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
import redis

from chat import live_sessions, operator
from chat.frames import CloseReason
from chat.session import ChatSession, Participant, Role, Status
from chatsite import rediskeys

ALICE = Participant("agent-a1", Role.AGENT, "Alice")


def chat(nickname: str, *, with_agent: bool = False) -> tuple[ChatSession, list[dict[str, Any]]]:
    """A chat's first facts and its log: the customer joins and is queued; with an
    agent, Alice joins and writes. (The facts stay as at the start.)"""
    session, _ = ChatSession.open(f"s-{uuid.uuid4().hex[:10]}", "pair-x", nickname, "")
    events: list[dict[str, Any]] = []
    steps = [lambda: session.joined(session.customer), lambda: session.queued(1)]
    if with_agent:
        steps += [lambda: session.joined(ALICE), lambda: session.message(ALICE, "Hello", "c-1", 100)]
    for step in steps:
        event = {**step(), "seq": len(events) + 1}
        session.apply(event)
        events.append(event)
    return session, events


def test_a_waiting_chat_is_a_queued_row_waiting_since_its_queued_notice():
    """Carol's chat with no agent is queued, with no agent, waiting since its stored
    ``queued`` notice, at the seq of that notice."""
    session, events = chat("Carol")
    row = live_sessions.row(session.id, session.facts(), events)
    assert row is not None
    assert (row.nickname, row.agent, row.state, row.last_seq, row.pair) == ("Carol", None, Status.QUEUED, 2, "pair-x")
    assert row.waiting_since == datetime.fromisoformat(events[1]["at"]).astimezone(UTC)


def test_an_answered_chat_is_an_active_row_with_its_agent_and_last_message():
    """Once Alice joined and wrote, the row is active, names her, waits no more, and
    its last message time is her message's."""
    session, events = chat("Dave", with_agent=True)
    row = live_sessions.row(session.id, session.facts(), events)
    assert row is not None
    assert (row.agent, row.state, row.waiting_since, row.last_seq) == ("Alice", Status.ACTIVE, None, 4)
    assert row.last_message_at == datetime.fromisoformat(events[-1]["at"]).astimezone(UTC)


def test_a_closed_or_forgotten_session_is_no_row():
    """A session whose log ends with ``closed`` (closed since the open set was read),
    or whose facts are gone, is left out."""
    session, events = chat("Erin")
    closed = [*events, {**session.closing(CloseReason.OPERATOR_CLOSED), "seq": len(events) + 1}]
    assert live_sessions.row(session.id, session.facts(), closed) is None
    assert live_sessions.row(session.id, {}, events) is None


@pytest.mark.parametrize("query, found", [("", True), ("car", True), ("ALI", True), ("s-", True), ("bob", False)])
def test_a_search_looks_in_the_nickname_the_session_id_and_the_agent(query, found):
    session, events = chat("Carol", with_agent=True)
    row = live_sessions.row(session.id, session.facts(), events)
    assert row is not None and row.matches(query) is found


def store(client: redis.Redis, pair: str, session: ChatSession, events: list[dict[str, Any]]) -> None:
    """What the live log holds of an open session (chat.livelog writes it so)."""
    client.hset(rediskeys.session_meta(session.id), mapping={**session.facts(), "pair": pair})
    client.rpush(rediskeys.session_log(session.id), *(json.dumps(event) for event in events))
    client.sadd(rediskeys.pair_open_sessions(pair), session.id)


def test_the_list_reads_the_open_sessions_of_the_pairs_asked_for(redis_client):
    """Two pairs in Redis: the list of one pair holds its chats only, the waiting one
    first; an id in the open set whose log is gone is left out; a search filters."""
    pair, other = f"p-{uuid.uuid4().hex[:6]}", f"p-{uuid.uuid4().hex[:6]}"
    carol, dave, frank = chat("Carol", with_agent=True), chat("Dave"), chat("Frank")
    store(redis_client, pair, *carol)
    store(redis_client, pair, *dave)
    store(redis_client, other, *frank)
    redis_client.sadd(rediskeys.pair_open_sessions(pair), "s-forgotten")
    client = redis_client

    rows = live_sessions.read(client, [pair])
    assert [(r.nickname, r.state) for r in rows] == [("Dave", Status.QUEUED), ("Carol", Status.ACTIVE)]
    assert {r.nickname for r in live_sessions.read(client, [pair, other])} == {"Carol", "Dave", "Frank"}
    assert [r.nickname for r in live_sessions.read(client, [pair, other], "alice")] == ["Carol"]
    assert live_sessions.read(client, []) == []
    assert live_sessions.pair_of(client, frank[0].id) == other


def run_commands(holds: set[str], *data: bytes | str) -> list[tuple[str, CloseReason]]:
    """The commands as an instance that holds ``holds`` carries them out: the ends it made."""
    ended: list[tuple[str, CloseReason]] = []

    async def end(session_id: str, reason: CloseReason) -> None:
        ended.append((session_id, reason))

    listener = operator.OperatorCommands(SimpleNamespace(name="i-1"), holds.__contains__, end)  # type: ignore[arg-type]

    async def main() -> None:
        for item in data:
            await listener.command(item)

    asyncio.run(main())
    return ended


def test_only_the_instance_that_holds_the_session_closes_it_for_the_operator():
    """A close ends the session with ``operator-closed`` where it is held; elsewhere
    (the backup, another pair's instance) and for a malformed command nothing ends."""
    ask = json.dumps({"close": "s-1", "by": "olga"}).encode()
    assert run_commands({"s-1"}, ask, b"not json", b'{"open": "s-1"}', b"[1]") == [
        ("s-1", CloseReason.OPERATOR_CLOSED)]
    assert run_commands(set(), ask) == []


def test_a_close_says_whether_the_chat_closed(redis_client):
    """``close`` reports a session that is not open, nobody listening, a primary that
    did not close it in time, and a close done (a stand-in primary that takes the
    session out of the open set when told)."""
    pair = f"p-{uuid.uuid4().hex[:6]}"
    session, events = chat("Carol")
    store(redis_client, pair, session, events)
    assert operator.close(redis_client, "s-unknown", "olga", 1) is operator.Closed.NOT_OPEN
    assert operator.close(redis_client, session.id, "olga", 1) is operator.Closed.NOBODY_LISTENS

    commands = redis_client.pubsub()
    commands.subscribe(rediskeys.operator_commands())
    assert commands.get_message(timeout=5)["type"] == "subscribe"
    try:
        assert operator.close(redis_client, session.id, "olga", 0.2) is operator.Closed.STILL_OPEN
        assert json.loads(commands.get_message(timeout=5)["data"]) == {"close": session.id, "by": "olga"}

        def primary() -> None:
            message = commands.get_message(timeout=5)
            redis_client.srem(rediskeys.pair_open_sessions(pair), json.loads(message["data"])["close"])

        serving = threading.Thread(target=primary)
        serving.start()
        assert operator.close(redis_client, session.id, "olga", 5) is operator.Closed.CLOSED
        serving.join(5)
    finally:
        commands.close()
    assert operator.close(redis_client, session.id, "olga", 1) is operator.Closed.NOT_OPEN
