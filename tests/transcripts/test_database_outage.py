"""The real PostgreSQL goes away under the worker: saves are retried until it is back."""

import pytest
from django.db import connection

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
