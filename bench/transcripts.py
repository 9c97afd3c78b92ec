"""--transcripts (issue 10): a transcript worker beside the bench's server and,
once our path's chats are closed, how long until every transcript is complete.

The figure comes from the store alone: each chat's ``closed`` event carries the
server's time (``at``) and the worker's time of its save (``saved_at``), so the
time from the last ``closed`` to the last transcript complete needs no clock of
the bench.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .stack import LOG_DIR, ROOT, STOP_TIMEOUT_SECONDS, BenchStack

logger = logging.getLogger("bench")

# How often the bench asks the store how many transcripts are complete.
POLL_SECONDS = 0.2
# The worker's processes, as `make run` starts it.
WORKER_CONCURRENCY = 2


@contextmanager
def worker_beside(bench: BenchStack, wanted: bool) -> Iterator[None]:
    """A Celery worker with the run's REDIS_PREFIX while the block runs, if ``wanted``."""
    if not wanted:
        yield
        return
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"{bench.run_id}-worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "chatsite", "worker", "--loglevel", "INFO",
             "--concurrency", str(WORKER_CONCURRENCY), "--hostname", f"{bench.run_id}@%h"],
            cwd=ROOT, env={**os.environ, "REDIS_PREFIX": bench.redis_prefix, "PYTHONUNBUFFERED": "1"},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    logger.info("started a transcript worker (pid %d); its log: %s", worker.pid, log_path)
    try:
        yield
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the run's keys (its queue too) go right after
        worker.wait(STOP_TIMEOUT_SECONDS)


@dataclass(frozen=True)
class TranscriptFigure:
    chats: int
    complete: int
    last_closed_to_last_complete_s: float | None

    @property
    def clean(self) -> bool:
        return self.complete == self.chats

    def render(self) -> str:
        took = ("n/a" if self.last_closed_to_last_complete_s is None
                else f"{self.last_closed_to_last_complete_s * 1000:.0f} ms")
        return (f"transcripts: {self.complete} of {self.chats} complete, closed included; "
                f"from the last closed to the last transcript complete: {took}")


def wait_complete(pair: str, chats: int, timeout: float) -> TranscriptFigure:
    """Wait until ``chats`` transcripts of ``pair`` are complete (saved up to their
    ``closed``), at most ``timeout`` s; what was found."""
    from django.db.models import F, Max

    from transcripts.models import Event, Transcript

    def complete() -> int:
        return Transcript.objects.filter(
            pair=pair, ended_at__isnull=False, events__type="closed", saved_seq=F("events__seq")
        ).count()

    deadline = time.monotonic() + timeout
    while (done := complete()) < chats and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    closed = Event.objects.filter(transcript__pair=pair, type="closed").aggregate(
        last_at=Max("at"), last_saved=Max("saved_at"))
    took = None
    if closed["last_at"] is not None:
        took = (closed["last_saved"] - closed["last_at"]).total_seconds()
    return TranscriptFigure(chats, done, took)
