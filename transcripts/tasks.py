"""The save task: thin, as a view is; the work is in transcripts.saving.

The retry policy comes with each task from the serving application's options
(policy.SavePolicy.task_options) and is applied by Celery's own retry. A save
is idempotent (see transcripts.store), so acks_late and a redelivery after a
lost worker cost nothing but a read.
"""
from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded

from . import feedback, saving
from .store import SaveFailed, Unavailable

logger = logging.getLogger(__name__)

# A save writes at most a few thousand rows, far below a second; one that takes
# this long waits on a database that does not answer, which is worth a retry.
SAVE_TIME_LIMIT_SECONDS = 20


class ReportingTask(Task):
    """Tells the pair's serving instance how each save ended, retries done (unless
    the save is the sweeper's: ``report=False``)."""

    def on_success(self, retval: int, task_id: str, args: tuple, kwargs: dict[str, Any]) -> None:
        session_id, pair = args
        if kwargs.get("report", True):
            feedback.report_saved(pair, session_id, retval)

    def on_failure(self, exc: BaseException, task_id: str, args: tuple, kwargs: dict[str, Any],
                   einfo: Any) -> None:
        session_id, pair = args
        kind = exc.kind if isinstance(exc, SaveFailed) else SaveFailed.kind
        logger.error("session %s: transcript save failed (%s, %d retries): %s",
                     session_id, kind, self.request.retries, exc)
        if kwargs.get("report", True):
            feedback.report_failed(pair, session_id, kind)


@shared_task(
    bind=True,
    base=ReportingTask,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=SAVE_TIME_LIMIT_SECONDS,
    throws=(SaveFailed,),
)
def save_transcript(self: Task, session_id: str, pair: str, *, attempts: int, delay: float,
                    notices: str, report: bool = True) -> int:
    """Save session ``session_id`` of ``pair`` up to its latest event; the seq saved.

    Ends by telling the due-save record what the store now holds (saving.save), so
    a save that dies before that (a worker killed mid-save) stays owed."""
    try:
        try:
            return saving.save(session_id, pair, notices)
        except SoftTimeLimitExceeded:
            raise Unavailable(f"the save took over {SAVE_TIME_LIMIT_SECONDS} s") from None
    except Unavailable as error:
        raise self.retry(exc=error, countdown=delay, max_retries=attempts) from None
