"""A transcript store that fails on purpose, for the worker of a test (TRANSCRIPT_STORE).

Its faults come from the worker's environment: FAULTY_STORE_FAILS writes fail
with FAULTY_STORE_ERROR (``unavailable`` or ``refused``), then writes go to the
database. Each write attempt is one JSON line in FAULTY_STORE_LOG, so that the
test sees how many tries there were and when. Meant for a worker with one
process (--concurrency 1): the count is the log's length.

With FAULTY_STORE_BLOCK (a path), a write stops in the middle, its rows written
but not committed: it creates that file and waits forever, for the test to kill
the worker there.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from django.db import transaction

from transcripts.store import Batch, DatabaseStore, Refused, Unavailable

ERRORS = {"unavailable": Unavailable, "refused": Refused}


class FaultyStore(DatabaseStore):
    def write(self, batch: Batch) -> int:
        log = Path(os.environ["FAULTY_STORE_LOG"])
        tried = len(log.read_text().splitlines()) if log.exists() else 0
        fails = tried < int(os.environ.get("FAULTY_STORE_FAILS", "0"))
        with log.open("a") as out:
            out.write(json.dumps({"at": time.time(), "upto": batch.upto, "failed": fails}) + "\n")
        if fails:
            kind = os.environ.get("FAULTY_STORE_ERROR", "unavailable")
            raise ERRORS[kind](f"fault {tried + 1} of the test")
        if block := os.environ.get("FAULTY_STORE_BLOCK"):
            with transaction.atomic():
                saved = super().write(batch)  # in a savepoint of the transaction that never commits
                Path(block).write_text(json.dumps({"upto": saved}))
                threading.Event().wait()  # hold the transaction open until the test kills the worker
        return super().write(batch)


def attempts(log: Path) -> list[dict]:
    """What the store of a test's worker was asked, in order."""
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
