"""The message path, top to bottom: a socket's call in, the check, the event
stored in the live log, the event out to every follower of the session.

``Messages`` keeps the pair's open sessions in memory while this instance
serves (chat.takeover rebuilds them from the live log before it serves) and one
lock per session around check + store + publish, so that every socket gets a
session's events in seq order. Who follows a session is the registry's to say
(chat.registry); which agent gets a waiting chat, the queue's (chat.queue),
from the waiting line and agent loads kept here (chat.waiting).
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from chatsite import metrics
from ha.runtime import Instance

from .deadlines import Deadlines, deadline_of
from .finish import finish
from .frames import CloseReason, ErrorCode, Event, Notice, Out, Visibility
from .livelog import REPLAY_PAGE, Appending, Fenced, LiveLog, OpenSet, Queue, Stored
from .registry import Attachment, Registry, Socket
from .session import SNAPSHOT_EVERY, STAFF, ChatError, ChatSession, Participant, Role, customer_seq
from .wait_estimate import AnswerRate, estimated_wait_s
from .waiting import AgentLoads, WaitingLine, waits

logger = logging.getLogger(__name__)

StoredHook = Callable[[ChatSession, dict[str, Any]], Awaitable[None]]


def bookkeeping(event: dict[str, Any]) -> Appending:
    """How an event moves its session in the pair's open set and queue."""
    if event["type"] == Event.CLOSED:
        return {"open_set": OpenSet.CLOSE, "queue": Queue.REMOVE}
    if event["type"] == Event.LEFT and event["role"] == Role.AGENT:
        return {"queue": Queue.PUSH}
    return {}


class Messages:
    def __init__(self, instance: Instance, log: LiveLog, registry: Registry) -> None:
        self.instance = instance
        self.log = log
        self.registry = registry
        self.sessions: dict[str, ChatSession] = {}
        # Kept up to date from every session folded here (``_index``): who waits and
        # in which place, who has how many chats, when the sweeper looks next.
        self.waiting = WaitingLine()
        self.loads = AgentLoads()
        self.deadlines = Deadlines()
        # Chats answered lately, while this instance serves: the estimated waits.
        self.answers = AnswerRate(time.monotonic())
        # One lock per session while anyone holds or waits for it: weak values,
        # so the locks of closed sessions do not pile up.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        # Called after each event is stored and sent, under the session's lock
        # (transcripts.live uses it to schedule saves): keep them quick.
        self.stored_hooks: list[StoredHook] = []
        # Whether an event makes a transcript save owed, and in how many seconds the
        # sweeper hands it if no worker stored it first (None: owes none); recorded
        # by the event's own append (transcripts.live sets it; issue 10).
        self.save_after: Callable[[dict[str, Any]], float | None] = lambda event: None
        self._snapshots: set[asyncio.Future[bool]] = set()  # snapshots being kept (keep_snapshot)

    # -- customer -------------------------------------------------------------

    async def start(self, socket: Socket, nickname: str, subject: str) -> None:
        if self.registry.sessions(socket):
            raise ChatError(ErrorCode.ALREADY_STARTED, "this connection already has a chat session")
        session, token = ChatSession.open(uuid.uuid4().hex, self.instance.pair, nickname, subject)
        async with self.lock(session.id):
            # Stored first, then told: a customer never holds a token for a session
            # that a failed write left only in memory.
            self.sessions[session.id] = session
            try:
                stored = await self.store(
                    session, session.joined(session.customer),
                    open_set=OpenSet.OPEN, queue=Queue.PUSH, facts=session.facts(),
                )
            except BaseException as error:
                if not session.last_seq:
                    self.sessions.pop(session.id, None)
                elif isinstance(error, asyncio.CancelledError):
                    # Stored, but its socket went before it heard of it (daphne cancels
                    # the frame of a closed socket): the chat waits for its customer.
                    await finish(self._customer_away(session))
                raise
            logger.info("session %s started by customer %s", session.id, session.customer.id)
            started = {"type": str(Out.STARTED), "session_id": session.id, "token": token,
                       "participant_id": session.customer.id}
            if not self.registry.attach(session.id, socket, session.customer) or not await self.registry.deliver(
                    socket, [started, stored.event]):
                await self._customer_away(session)

    async def _customer_away(self, session: ChatSession) -> None:
        """A new chat's customer went before it heard of it: the session waits for it to
        come back, as after any drop. The caller holds the session's lock."""
        event = session.disconnected(session.customer)
        if event is not None:
            await self.store(session, event)

    async def resume(self, socket: Socket, session_id: str, token: str, last_seq: int) -> None:
        session = await self._get(session_id)
        if session is None or not session.token_matches(token):
            raise ChatError(ErrorCode.BAD_TOKEN, "no chat session with that id and token")
        if self.registry.sessions(socket) - {session_id}:
            raise ChatError(ErrorCode.ALREADY_STARTED, "this connection already has a chat session")
        await self._reattach(socket, session, session.customer, last_seq)

    # -- agent ----------------------------------------------------------------

    async def agent_resume(self, socket: Socket, last_seqs: dict[str, int]) -> None:
        """Re-attach an agent to each chat it holds; an error for each it does not."""
        agent = self.registry.participant(socket)
        for session_id, last_seq in last_seqs.items():
            session = await self._get(session_id)
            if agent is None or session is None or session.agent is None or session.agent.id != agent.id:
                refused = ChatError(ErrorCode.NOT_YOURS, f"session {session_id} is not one of your chats", session_id)
                await self.registry.deliver(socket, [refused.frame()])
                continue
            await self._reattach(socket, session, session.agent, last_seq)

    # -- both -----------------------------------------------------------------

    async def message(self, socket: Socket, session_id: str | None, text: str, client_id: str) -> None:
        taken = time.monotonic()
        session, who = self._taking_part(socket, session_id)
        async with self.lock(session.id):
            event = session.message(who, text, client_id, self.instance.settings["max-message-length"])
            stored = await self.store(session, event, client_id=client_id)
            if stored.duplicate:
                await self.registry.deliver(socket, [stored.event])
        metrics.DELIVERY_SECONDS.observe(time.monotonic() - taken)

    async def staff_message(self, socket: Socket, session_id: str, text: str, client_id: str,
                            visibility: Visibility) -> None:
        """An agent's or a supervisor's message with a visibility (chat.session.staff_message):
        the same path as any message, stored once per client_id."""
        session, who = self._taking_part(socket, session_id)
        async with self.lock(session.id):
            event = session.staff_message(who, text, client_id, self.instance.settings["max-message-length"],
                                          visibility)
            stored = await self.store(session, event, client_id=client_id)
            if stored.duplicate:
                await self.registry.deliver(socket, [stored.event])

    async def typing(self, socket: Socket, session_id: str | None, state: bool) -> None:
        session, who = self._taking_part(socket, session_id)
        await self.registry.publish(session.id, session.typing(who, state), exclude=socket)

    async def leave(self, socket: Socket, session_id: str | None, note: str | None = None) -> None:
        session, who = self._taking_part(socket, session_id)
        async with self.lock(session.id):
            for event in session.leave(who, note):
                await self.store(session, event)
            if who.role is Role.AGENT:
                self.registry.detach_agent(session.id, who)

    def taking_part(self, socket: Socket, session_id: str | None) -> tuple[ChatSession, Participant]:
        """See _taking_part()."""
        return self._taking_part(socket, session_id)

    async def transfer(self, session: ChatSession, who: Participant, to: Participant, note: str | None) -> None:
        """Hand ``who``'s chat to agent ``to`` (chat.transfers checked that it may take
        it): stored first, so everyone (the old agent included, as its acknowledgement)
        gets ``transferred``; then the old agent's sockets stop following the chat and
        the new agent's get ``assigned`` and the whole history, as after routing."""
        async with self.lock(session.id):
            for event in session.transfer(who, to, note):
                await self.store(session, event)
            self.registry.detach_agent(session.id, who)
            await self.hand_to(session, to)
        logger.info("session %s transferred from agent %s to agent %s", session.id, who.nickname, to.nickname)

    async def hand_to(self, session: ChatSession, agent: Participant) -> None:
        """The agent's sockets follow the session and get ``assigned``, then every
        event so far. The caller holds the session's lock and has stored the event
        that gave the agent the chat (``joined``, ``transferred``)."""
        page = await self.log.events_after(session.id, 0)
        sockets = self.registry.attach_agent(session.id, agent)
        for socket in sockets:
            await self.replay(socket, session.id, [{
                "type": str(Out.ASSIGNED),
                "session_id": session.id,
                "customer": session.customer.as_dict(),
                "subject": session.subject,
                "participant_id": agent.id,
            }], page)
        if not sockets:
            # Every socket of the agent went away while the chat was given to it:
            # nobody will disconnect it, so it is marked now, and comes back or is
            # taken as having left after participant-return-timeout.
            event = session.disconnected(agent)
            if event is not None:
                await self.store(session, event)

    async def close(self, socket: Socket, session_id: str | None) -> None:
        session, who = self._taking_part(socket, session_id)
        async with self.lock(session.id):
            await self.store(session, session.close(who))

    async def gone(self, attachment: Attachment) -> None:
        """A socket went away (the registry says so, once): in each of its sessions
        where its participant has no other socket, everyone is told."""
        who = attachment.participant
        if not self.instance.serving:
            # Handing over (a switchover or a planned stop): a socket that goes now is
            # following the hint to the new primary, not leaving the chat; the new
            # primary marks whoever does not arrive (chat.sweeper).
            return
        for session_id in sorted(attachment.sessions) if who is not None else ():
            async with self.lock(session_id):
                session = self.sessions.get(session_id)
                if session is None or self.registry.still_attached(session_id, who):
                    continue
                event = session.disconnected(who)
                if event is not None:
                    await self.store(session, event)

    # -- from outside a socket (the transcript worker, a switchover) ----------

    async def notice(self, session_id: str, notice: Notice, **fields: Any) -> None:
        """Store a ``notice`` event in an open session and send it to everyone in it."""
        session = self.sessions.get(session_id)
        if session is None:
            return
        async with self.lock(session_id):
            if session.is_open:
                # A save's notice says what was saved in each side's count (issue 13: visibility).
                event = session.save_notice(fields["saved_seq"]) if notice == Notice.UCS_SAVE else session.event(
                    Event.NOTICE, notice=str(notice), **fields)
                await self.store(session, event)

    async def end(self, session_id: str, reason: CloseReason) -> None:
        """Close an open session for ``reason``; every participant gets ``closed``."""
        session = self.sessions.get(session_id)
        if session is None:
            return
        async with self.lock(session_id):
            if session.is_open:
                await self.store(session, session.closing(reason))

    # -- the store ------------------------------------------------------------

    def lock(self, session_id: str) -> asyncio.Lock:
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
        return lock

    async def store(self, session: ChatSession, event: dict[str, Any], **options: Any) -> Stored:
        """Append to the live log at this instance's epoch, then ``apply``; the
        original event on a re-sent client_id. The caller holds the session's lock.
        Both run to their end even if the caller is cancelled (chat.finish)."""
        return await finish(self._store(session, event, options))

    async def _store(self, session: ChatSession, event: dict[str, Any], options: dict[str, Any]) -> Stored:
        epoch = self._write_epoch()
        try:
            stored = await self.log.append(epoch, event, **{**bookkeeping(event), **options},
                                           save_after=self.save_after(event))
        except Fenced as fenced:
            raise await self.fenced(fenced, f"session {session.id}") from None
        if not stored.duplicate:
            await self.apply(session, stored.event, stored.queue_rank)
        return stored

    async def store_many(self, said: list[tuple[ChatSession, dict[str, Any]]], what: str) -> None:
        """``store`` for an event in each of many sessions, in one batch (a takeover's
        restore, a switchover's drain). The caller makes sure nothing else writes
        to those sessions meanwhile (their locks, or an instance not serving yet)."""
        await finish(self._store_many(said, what))

    async def _store_many(self, said: list[tuple[ChatSession, dict[str, Any]]], what: str) -> None:
        epoch = self._write_epoch()
        try:
            stored = await self.log.append_many(
                epoch, [(event, {**bookkeeping(event), "save_after": self.save_after(event)}) for _, event in said])
        except Fenced as fenced:
            raise await self.fenced(fenced, f"pair {self.instance.pair}: {what}") from None
        for (session, _), done in zip(said, stored, strict=True):
            await self.apply(session, done.event, done.queue_rank)

    def _write_epoch(self) -> int:
        epoch = self.instance.write_epoch
        if epoch is None:  # the lease ran out by our clock: nothing may be written
            raise ChatError(ErrorCode.NOT_PRIMARY, "this server no longer serves the chat")
        return epoch

    async def apply(self, session: ChatSession, event: dict[str, Any], queue_rank: float | None = None) -> None:
        """Fold a stored event into its session, send it to the session's followers,
        run the stored hooks. ``queue_rank``: the session's rank in the pair's queue,
        if the event put it there. Only the sessions this instance holds are indexed
        (waiting, loads, deadlines): a takeover's restore stores into sessions it
        holds only after, and ``replace`` indexes them all then."""
        session.apply(event)
        if session.is_open and session.last_seq % SNAPSHOT_EVERY == 0:
            self.keep_snapshot(session)
        if session.id in self.sessions:
            self._index(session, queue_rank)
        if event["type"] == Event.JOINED and event.get("role") == Role.AGENT:
            self.answers.answered(time.monotonic())
        await self.registry.publish(session.id, event)
        metrics.EVENTS_STORED.labels(event["type"]).inc()
        if not session.is_open:
            self.sessions.pop(session.id, None)
        for hook in self.stored_hooks:
            await hook(session, event)

    def keep_snapshot(self, session: ChatSession) -> None:
        """Keep the session's state beside its log (chat.session.SNAPSHOT_FACT), in the
        background: the next takeover folds only what follows it. Nobody waits for it,
        and one that fails costs only a longer fold then."""
        kept = asyncio.ensure_future(self.log.keep_snapshot(session.id, session.last_seq, session.snapshot()))
        self._snapshots.add(kept)
        kept.add_done_callback(functools.partial(self._snapshot_kept, session.id))

    def _snapshot_kept(self, session_id: str, kept: asyncio.Future[bool]) -> None:
        self._snapshots.discard(kept)
        error = None if kept.cancelled() else kept.exception()
        if error is not None:
            logger.warning("session %s: its snapshot could not be kept (%r); a takeover folds its whole log",
                           session_id, error)

    async def fenced(self, fenced: Fenced, what: str) -> ChatError:
        """A write was refused: the pair moved on. Give the role up if it moved past
        this instance's term; the error to raise."""
        logger.warning("%s: %s", what, fenced)
        await self.instance.write_refused(fenced.pair_epoch)
        return ChatError(ErrorCode.NOT_PRIMARY, "this server no longer serves the chat")

    # -- the sessions and what is known of them -------------------------------

    def replace(self, sessions: list[ChatSession], queue: list[tuple[str, float]]) -> None:
        """Make ``sessions`` the open ones (a takeover's restore; none when the role
        is gone), the waiting ones in the order and with the ranks of the pair's
        queue in Redis (one waiting but missing there goes behind, by its start)."""
        self.sessions = {session.id: session for session in sessions if session.is_open}
        self.waiting.clear()
        self.loads.clear()
        self.deadlines.clear()
        self.answers.restart(time.monotonic())  # a new term counts its own answers (chat.wait_estimate)
        ranks = dict(queue)
        for session in sorted(self.sessions.values(), key=lambda s: (s.id not in ranks, ranks.get(s.id, 0),
                                                                     s.started_at)):
            self._index(session, ranks.get(session.id))

    def estimated_wait_s(self, position: int) -> int | None:
        """The estimated wait of a place in the queue now (chat.wait_estimate)."""
        return estimated_wait_s(self.answers.per_second(time.monotonic()), position)

    def reschedule(self) -> None:
        """Work every deadline out again (the timeouts changed)."""
        self.deadlines.clear()
        for session in self.sessions.values():
            self.deadlines.schedule(session.id, deadline_of(session, self.instance.settings))

    def _index(self, session: ChatSession, queue_rank: float | None = None) -> None:
        if waits(session):
            self.waiting.join(session.id, queue_rank)
        else:
            self.waiting.leave(session.id)
        self.loads.track(session)
        self.deadlines.schedule(session.id, deadline_of(session, self.instance.settings))

    # -- internals ------------------------------------------------------------

    async def _reattach(self, socket: Socket, session: ChatSession, who: Participant, last_seq: int) -> None:
        # A takeover brings every client back at once: counted, and logged only at DEBUG.
        metrics.RESUMES.labels(str(who.role)).inc()
        logger.debug("session %s: %s %s resumes after seq %d", session.id, who.role, who.id, last_seq)
        async with self.lock(session.id):
            page = await self.log.events_after(session.id, last_seq)
            if not self.registry.attach(session.id, socket, who):
                return  # the socket went away meanwhile
            resumed = {
                "type": str(Out.RESUMED),
                "session_id": session.id,
                "epoch": self.instance.epoch,
                # A customer counts only what it is shown (chat.visibility), and resumed after that.
                "last_seq": session.last_seq if who.role in STAFF else session.customer_last_seq,
            }
            shown_after = 0 if who.role in STAFF else last_seq
            position = self.waiting.position(session.id)
            place = ([session.place(position, self.estimated_wait_s(position))]
                     if position is not None and who.role is Role.CUSTOMER else [])
            if not await self.replay(socket, session.id, [resumed], page, shown_after) or \
                    not await self.registry.deliver(socket, place):
                return  # and the registry has it marked gone
            session.arrived(who)
            event = session.reconnected(who)
            if event is not None:
                await self.store(session, event)

    async def replay(self, socket: Socket, session_id: str, first: list[dict[str, Any]],
                     page: list[dict[str, Any]], shown_after: int = 0) -> bool:
        """Send ``first``, then the session's events from ``page`` (the first page of
        the log the caller read) on, a page at a time (chat.livelog.REPLAY_PAGE), while
        the socket still follows the session; False if it failed or went. The caller
        holds the session's lock, so no event comes between two pages. ``shown_after``:
        a customer's last seq (its own count, chat.visibility); what it has is skipped."""
        if not await self.registry.deliver(socket, [*first, *_shown_after(page, shown_after)]):
            return False
        while len(page) == REPLAY_PAGE:
            page = await self.log.events_after(session_id, page[-1]["seq"])
            if session_id not in self.registry.sessions(socket) or not await self.registry.deliver(
                    socket, _shown_after(page, shown_after)):
                return False
        return True

    def _taking_part(self, socket: Socket, session_id: str | None) -> tuple[ChatSession, Participant]:
        """The session a frame names (a customer's own when it names none) and who
        the socket is in it, if the socket takes part in it."""
        sessions = self.registry.sessions(socket)
        if session_id is None:
            if not sessions:
                raise ChatError(ErrorCode.NO_SESSION, "start or resume a chat session first")
            session_id = next(iter(sessions))
        who = self.registry.participant(socket)
        if session_id not in sessions or who is None:
            raise ChatError(ErrorCode.NOT_YOURS, f"session {session_id} is not yours")
        session = self.sessions.get(session_id)
        if session is None:
            raise ChatError(ErrorCode.SESSION_CLOSED, f"session {session_id} is closed")
        return session, who

    async def _get(self, session_id: str) -> ChatSession | None:
        """The session, from memory or else from its log (kept in memory if open)."""
        session = self.sessions.get(session_id)
        if session is not None:
            return session
        [(facts, events)] = await self.log.sessions([session_id])
        if not facts:
            return None
        session = ChatSession.rebuild(session_id, facts, events)
        if session.is_open:
            self.sessions[session_id] = session
            self._index(session)
        return session


def _shown_after(page: list[dict[str, Any]], last_shown: int) -> list[dict[str, Any]]:
    """The events of ``page`` a customer who has seen up to ``last_shown`` (its count)
    lacks: the log's seq runs ahead of the customer's where internal events are, so
    a resume reads from the log at ``last_shown`` and skips what was shown already."""
    if not last_shown:
        return page
    return [event for event in page if customer_seq(event) > last_shown]
