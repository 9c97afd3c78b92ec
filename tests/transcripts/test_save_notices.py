"""transcript-save-notices decides which notice events the saved transcript keeps."""
import json

import pytest

from chatsite import rediskeys

from ..harness import Client
from .conftest import wait_saved
from .test_auto_save import say

# As documented (ha.options): messages and the end are always kept.
KEPT = {
    "none": {"message", "closed"},
    "major": {"message", "closed", "joined", "left", "disconnected", "reconnected"},
    "all": {"message", "closed", "joined", "left", "disconnected", "reconnected", "notice"},
}


@pytest.mark.parametrize(
    "server_options",
    [{"transcript_auto_save": "2", "transcript_save_notices": notices} for notices in KEPT],
    ids=list(KEPT),
)
def test_the_saved_transcript_keeps_the_notices_the_option_names(
    server_options, server, worker, customer, agent, clients, redis_client
):
    carol = customer("Carol")  # no agent yet: a queued notice
    session_id, token = carol.started["session_id"], carol.started["token"]
    carol.until(type="notice", notice="queued")
    alice = agent("alice")
    alice.until(type="assigned", session_id=session_id)
    say(carol, "hello")
    carol.until(type="notice", notice="ucs-save")

    carol.close()
    alice.until(type="disconnected", session_id=session_id)
    carol = Client.open(f"{server.ws}/ws/chat/")
    clients.append(carol)
    carol.send(type="resume", session_id=session_id, token=token, last_seq=0)
    alice.until(type="reconnected", session_id=session_id)
    carol.send(type="leave")
    closed = alice.until(type="closed", session_id=session_id)

    transcript = wait_saved(session_id, upto=closed["seq"], ended=True)
    live = [json.loads(raw) for raw in redis_client.lrange(rediskeys.session_log(session_id), 0, -1)]
    assert {e["type"] for e in live} == KEPT["all"]  # every kind of event happened
    kept = server_options["transcript_save_notices"]
    assert [e.seq for e in transcript.events.all()] == [e["seq"] for e in live if e["type"] in KEPT[kept]]
