"""The serving instance's side of transcripts: schedules saves, acts on the workers' reports.

A chat server never writes a transcript. After an event is stored, the hook
here decides from the application's options (policy.SavePolicy) whether a save
is due and hands a task to the broker on a thread of its own, so the message
path never waits on it. Saves coalesce: while one is in flight for a session,
further messages only mark it dirty, and one more save follows when the report
comes back; since a save writes everything up to the latest event, a burst of
messages costs a few saves.

A hand-off may never happen (the primary killed first, a broker error) and a
save may never end (a worker killed mid-save, a store away for longer than the
retries). So the append that stores an event calling for a save also marks the
save as owed in Redis (``save_after``; chat.livelog's due-save record), and
only a worker that stored the event takes the mark away; the serving primary's
sweeper (transcripts.sweeper) hands again every save that stayed owed (issue 10).

Workers report each save's outcome to the pair's channel layer group
(transcripts.feedback); ``TranscriptSaves.run`` listens there and turns
reports into ``ucs-save`` / ``ucs-save-fail`` notices and, under
``transcript-save-on-error = close``, into the end of the chat.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from kombu.exceptions import OperationalError

from chat.frames import CloseReason, Notice
from chat.service import ChatService
from chat.session import ChatError, ChatSession
from chatsite import metrics

from . import feedback
from .policy import SavePolicy
from .sweeper import SaveSweeper
from .tasks import SAVE_TIME_LIMIT_SECONDS, save_transcript

logger = logging.getLogger(__name__)

# channels_redis forgets a group member after its group_expiry (a day by
# default): the listener joins its group again well before that.
REJOIN_GROUP_SECONDS = 60 * 60
# After the channel layer failed, wait this long before listening again.
LISTEN_RETRY_SECONDS = 1.0


@dataclass
class _Pending:
    since: float
    dirty: bool = False


class Coalescer:
    """At most one save in flight per session: plain bookkeeping, no I/O."""

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}

    def want(self, session_id: str, now: float, lost_after: float) -> bool:
        """A message was stored: whether to send a save now.

        A save that has not reported back within ``lost_after`` seconds is taken
        as lost (a worker died, a report was dropped) and no longer holds others back.
        """
        pending = self._pending.get(session_id)
        if pending is not None and now - pending.since < lost_after:
            pending.dirty = True
            return False
        self._pending[session_id] = _Pending(now)
        return True

    def done(self, session_id: str, now: float) -> bool:
        """A save reported back: whether to send another now (messages came meanwhile)."""
        pending = self._pending.pop(session_id, None)
        if pending is None or not pending.dirty:
            return False
        self._pending[session_id] = _Pending(now)
        return True

    def forget(self, session_id: str) -> None:
        self._pending.pop(session_id, None)


class HandOffFaults:
    """A test hook (CHAT_TEST_HOOKS only), from TRANSCRIPT_TEST_HANDOFF in the
    environment: ``refuse:N`` refuses this process's first N hand-offs to the broker
    as a broker that does not answer would; ``hold`` holds every hand-off forever, as
    a primary killed before it handed anything. Runs on the sender thread."""

    def __init__(self, spec: str) -> None:
        self.hold = spec == "hold"
        self.refusals = int(spec.partition(":")[2]) if spec.startswith("refuse:") else 0

    @classmethod
    def from_environment(cls) -> HandOffFaults | None:
        spec = os.environ.get("TRANSCRIPT_TEST_HANDOFF", "")
        return cls(spec) if django_settings.CHAT_TEST_HOOKS and spec else None

    def before_hand_off(self) -> None:
        if self.hold:
            threading.Event().wait()
        if self.refusals > 0:
            self.refusals -= 1
            raise OperationalError("the broker refused the hand-off (TRANSCRIPT_TEST_HANDOFF)")


class TranscriptSaves:
    def __init__(self, service: ChatService) -> None:
        self.service = service
        self.instance = service.instance
        self.coalescer = Coalescer()
        self._epoch = self.instance.epoch
        # The policy of the options in force: made again only when they change,
        # since the hook runs for every event.
        self._policy_of: Mapping[str, Any] | None = None
        self._policy: SavePolicy | None = None
        # One thread, so that the broker's client is never shared between threads.
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transcript-saves")
        self._faults = HandOffFaults.from_environment()
        service.stored_hooks.append(self.stored)
        service.messages.save_after = self.save_after
        self.sweeper = SaveSweeper(self.instance, service.messages.log, self._hand_off_owed)

    @property
    def policy(self) -> SavePolicy:
        settings = self.instance.settings
        if self._policy is None or settings is not self._policy_of:
            self._policy, self._policy_of = SavePolicy.of(settings), settings
        return self._policy

    # -- the hooks on the message path (under the session's lock) -------------

    def save_after(self, event: dict[str, Any]) -> float | None:
        """Whether storing ``event`` makes a save owed and, if so, in how many seconds
        the sweeper hands it (Messages.save_after: the append records it)."""
        policy = self.policy
        return policy.sweep_after_s if policy.owes(event) else None

    async def stored(self, session: ChatSession, event: dict[str, Any]) -> None:
        """Send a save if ``event`` calls for one; never waits on the broker."""
        policy = self.policy
        if not policy.saves_after(event):
            return
        if self._epoch != self.instance.epoch:
            # A new term as primary: what was pending belongs to the last one.
            self.coalescer, self._epoch = Coalescer(), self.instance.epoch
        if not session.is_open:
            self.coalescer.forget(session.id)
            self._send(session.id, session.pair, policy)
        elif self.coalescer.want(session.id, time.monotonic(),
                                 policy.longest_save_seconds(SAVE_TIME_LIMIT_SECONDS)):
            self._send(session.id, session.pair, policy)

    def _send(self, session_id: str, pair: str, policy: SavePolicy) -> None:
        sending = asyncio.get_running_loop().run_in_executor(
            self._sender, functools.partial(self._hand_off, session_id, pair, policy.task_options()),
        )
        sending.add_done_callback(functools.partial(self._sent, session_id))

    def _hand_off(self, session_id: str, pair: str, options: dict[str, Any], **sending: Any) -> None:
        """Hand one save to the broker (on the sender thread)."""
        if self._faults is not None:
            self._faults.before_hand_off()
        save_transcript.apply_async((session_id, pair), options, **sending)

    def _sent(self, session_id: str, sending: asyncio.Future) -> None:
        error = None if sending.cancelled() else sending.exception()
        if error is not None:
            logger.error("session %s: could not hand a transcript save to the broker (the sweeper hands it "
                         "again in %.0f s): %s", session_id, self.policy.sweep_after_s, error)
            self.coalescer.forget(session_id)  # so that the next message tries again

    def _hand_off_owed(self, saves: list[tuple[str, float]]) -> None:
        """The sweeper's hand-offs, on the sender thread; each task expires when the
        next hand-off of the same save comes, so a broker with no worker does not pile
        up copies that all run once one starts."""
        asyncio.get_running_loop().run_in_executor(
            self._sender, self._hand_off_each, self.instance.pair, self.policy.sweeper_task_options(), saves,
        ).add_done_callback(self._owed_sent)

    def _hand_off_each(self, pair: str, options: dict[str, Any], saves: list[tuple[str, float]]) -> int:
        failed = 0
        for session_id, expires_s in saves:
            try:
                self._hand_off(session_id, pair, options, expires=expires_s)
            except Exception as error:
                failed += 1
                logger.error("session %s: could not hand an owed transcript save to the broker: %s",
                             session_id, error)
        return failed

    @staticmethod
    def _owed_sent(sending: asyncio.Future) -> None:
        if not sending.cancelled() and sending.exception() is not None:
            logger.error("handing owed transcript saves to the broker failed: %s", sending.exception())

    # -- the workers' reports -------------------------------------------------

    async def run(self) -> None:
        """While the process runs: listen to the pair's group for the workers' reports,
        and sweep for owed saves whenever this instance serves."""
        await asyncio.gather(self._listen_for_reports(), self.sweeper.run())

    async def _listen_for_reports(self) -> None:
        layer = get_channel_layer()
        while True:
            try:
                channel = await layer.new_channel()
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(self._stay_in_group(layer, channel))
                    tasks.create_task(self._listen(layer, channel))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("listening for transcript save reports failed; again in %s s",
                                 LISTEN_RETRY_SECONDS)
                await asyncio.sleep(LISTEN_RETRY_SECONDS)

    async def _stay_in_group(self, layer: Any, channel: str) -> None:
        while True:
            await layer.group_add(feedback.group(self.instance.pair), channel)
            await asyncio.sleep(REJOIN_GROUP_SECONDS)

    async def _listen(self, layer: Any, channel: str) -> None:
        handlers = {feedback.SAVED: self.transcript_saved, feedback.FAILED: self.transcript_failed}
        while True:
            message = await layer.receive(channel)
            try:
                await handlers[message["type"]](message)
            except ChatError as error:
                # Fenced: this instance no longer serves the pair; the new primary heard it too.
                logger.warning("session %s: save report not applied: %s", message.get("session_id"), error)

    async def transcript_saved(self, message: dict[str, Any]) -> None:
        metrics.TRANSCRIPT_SAVES.labels("saved").inc()
        session_id = message["session_id"]
        if self.policy.tells_participants:
            await self.service.notice(session_id, Notice.UCS_SAVE, saved_seq=message["seq"])
        self._next(session_id)

    async def transcript_failed(self, message: dict[str, Any]) -> None:
        metrics.TRANSCRIPT_SAVES.labels("failed").inc()
        session_id = message["session_id"]
        policy = self.policy
        if policy.tells_participants:
            await self.service.notice(session_id, Notice.UCS_SAVE_FAIL, error=message["error"])
        if policy.close_on_error and session_id in self.service.sessions:
            logger.warning("session %s: closing it, its transcript could not be saved (%s)",
                           session_id, message["error"])
            self.coalescer.forget(session_id)
            await self.service.end(session_id, CloseReason.TRANSCRIPT_SAVE_ERROR)
            return
        self._next(session_id)

    def _next(self, session_id: str) -> None:
        """A save is over: send the one that messages stored meanwhile asked for."""
        session = self.service.sessions.get(session_id)
        if session is None:
            self.coalescer.forget(session_id)
        elif self.coalescer.done(session_id, time.monotonic()):
            self._send(session_id, session.pair, self.policy)


def install(service: ChatService) -> TranscriptSaves:
    """Schedule transcript saves for ``service``; run the result's ``run()`` on the event loop."""
    return TranscriptSaves(service)
