"""The real PostgreSQL goes away under the worker: saves are retried until it is back."""

import pytest
from django.db import connection

from ha.models import Application
from ha.status import owed_transcripts

from ..harness import database_url, wait_for
from ..proxy import CuttableProxy
from .conftest import wait_saved
from .test_auto_save import say

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)"
)


@pytest.fixture
def proxy(transactional_db):
    db = connection.settings_dict
    cuttable = CuttableProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
    yield cuttable
    cuttable.close()


@pytest.mark.options(transcript_auto_save="1", transcript_resend_attempts="10", transcript_resend_delay="0.3")
def test_saves_are_retried_while_the_database_is_away_and_nothing_is_lost_or_doubled(proxy, start_worker, chat):
    db = connection.settings_dict
    via_proxy = database_url().replace(f":{db['PORT'] or 5432}/", f":{proxy.port}/")
    worker = start_worker(concurrency=1, DATABASE_URL=via_proxy)
    carol, _alice, session_id = chat()
    wait_saved(session_id, upto=say(carol, "before")["seq"])

    proxy.cut()
    during = say(carol, "during the outage")
    wait_for(lambda: worker.log().count("Retry in") >= 2, 5, "two retries of the save")
    proxy.restore()
    transcript = wait_saved(session_id, upto=during["seq"], timeout=10)

    assert [e.seq for e in transcript.events.all()] == list(range(1, during["seq"] + 1))
    assert [e.data["text"] for e in transcript.events.filter(type="message")] == ["before", "during the outage"]


OUTAGE_OPTIONS = {"transcript_auto_save": "1", "transcript_resend_attempts": "2", "transcript_resend_delay": "0.3"}


@pytest.mark.parametrize("server_options", [
    {**OUTAGE_OPTIONS, "transcript_save_on_error": "close"},
    {**OUTAGE_OPTIONS, "transcript_save_on_error": "continue"},
], ids=["close", "continue"])
def test_a_database_away_for_longer_than_the_retries_gets_every_transcript_completed_once_back(
        server_options, proxy, start_worker, chat, server, redis_client):
    """Issue 10: the saves whose retries ran out (the message's; under ``close`` the
    chat's end, under ``continue`` the final save) stay owed, and the sweeper
    completes the transcript once the database is back, with no participant writing."""
    db = connection.settings_dict
    via_proxy = database_url().replace(f":{db['PORT'] or 5432}/", f":{proxy.port}/")
    worker = start_worker(concurrency=1, DATABASE_URL=via_proxy)
    pair = Application.objects.get(name=server.name).pair
    carol, alice, session_id = chat()
    wait_saved(session_id, upto=say(carol, "before")["seq"])

    proxy.cut()
    say(carol, "during the outage")
    if server_options["transcript_save_on_error"] == "close":
        closed = alice.until(type="closed", session_id=session_id, timeout=15)
        assert closed["reason"] == "transcript-save-error"
    else:
        wait_for(lambda: worker.log().count("transcript save failed") >= 1, 15, "the message's retries to run out")
        carol.send(type="leave")
        closed = alice.until(type="closed", session_id=session_id)
        wait_for(lambda: worker.log().count("transcript save failed") >= 2, 15, "the final save's retries to run out")
    assert owed_transcripts(redis_client, pair)["transcripts_owed"] == 1
    proxy.restore()

    transcript = wait_saved(session_id, upto=closed["seq"], ended=True, timeout=30)
    assert [e.seq for e in transcript.events.all()] == list(range(1, closed["seq"] + 1))
    assert [e.data["text"] for e in transcript.events.filter(type="message")] == ["before", "during the outage"]
    assert transcript.end_reason == closed["reason"]
    wait_for(lambda: owed_transcripts(redis_client, pair)["transcripts_owed"] == 0, 5, "nothing owed any more")
