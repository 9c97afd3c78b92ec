"""Run one chat server instance (daphne) for a configured application."""
# isort: off
import daphne.server  # noqa: F401  (installs the asyncio reactor: must come first)

# isort: on

import asyncio
import gc
import logging
import os
import resource
import signal
import sys

from daphne.server import Server
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from twisted.internet import reactor

from chat import service as chat_service
from chat.inbound import MAX_FRAME_BYTES
from chatsite import metrics, websocket_protocol
from ha import runtime
from ha.models import Application
from transcripts import live as transcripts_live

logger = logging.getLogger("ha")


def _no_formatting_for_unseen_debug_lines() -> None:
    """autobahn formats the arguments of its debug lines whether debug is on or
    not: its whole configuration, pretty-printed, on every new connection (an
    eighth of what a reconnect storm cost), and the names of the method and peer
    on every frame sent and every read (2 % of a busy server each). The lines
    are never shown here (daphne's verbosity 0 sends Twisted's log nowhere), so
    the formatting is skipped."""
    import autobahn.twisted.websocket as twisted_websocket
    import autobahn.websocket.protocol as protocol

    protocol.pformat = protocol.hltype = protocol.hlval = lambda *args, **kwargs: ""
    twisted_websocket.hltype = twisted_websocket.hlval = protocol.hltype


# Objects allocated between two young collections. CPython's 700 makes a server
# holding thousands of sockets and sessions run a full collection (every object
# scanned, the event loop stopped) every few seconds of traffic: at 1,000 chats
# those pauses were the whole of the delivery p99 (hundreds of ms).
GC_YOUNG_THRESHOLD = 50_000


def _calm_garbage_collector() -> None:
    """Freeze what start-up made (Django, Twisted, the app: never garbage) out of
    every collection, and collect young objects less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


# Connections the kernel queues for accept: Twisted's default is 50, and a
# takeover's reconnect storm (two thousand sockets at once) overflowed it, the
# dropped SYNs coming back only after TCP's 1 s, 3 s, 7 s retransmits.
LISTEN_BACKLOG = 4096
# How long the handler of a closed socket may take to end before daphne cancels it
# (its default is 10 s; 2 s, here until issue 14's --restore bench, cut the frames of
# sockets that closed during a surge).
APPLICATION_CLOSE_TIMEOUT_S = 30


def _raise_file_limit() -> int:
    """Every socket is a file: ten thousand chats are twenty thousand. Raise this
    process's soft limit to the hard one (which only root or the service manager
    raises: LimitNOFILE=, ulimit -Hn; see docs/operations.md); the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard and hard != resource.RLIM_INFINITY:  # the kernel refuses an infinite file limit
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as error:
            logger.warning("could not raise the open-file limit from %s to %s: %s", soft, hard, error)
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Command(BaseCommand):
    requires_system_checks = []  # run below, with the database ones
    help = "Run the chat server instance of application NAME on its configured host and port."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="the application's name, e.g. chat-primary")

    def handle(self, *args, name: str, **options) -> None:
        try:
            application = Application.objects.get(name=name)
        except Application.DoesNotExist:
            known = ", ".join(Application.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"no application named {name!r} (configured: {known})") from None

        self.check(databases=["default"])
        files = _raise_file_limit()
        _no_formatting_for_unseen_debug_lines()
        _calm_garbage_collector()
        members = list(Application.objects.filter(pair=application.pair))
        instance = runtime.Instance(application, application.settings(), members)
        runtime.install(instance)
        chats = chat_service.ChatService(instance)
        chat_service.install(chats)
        transcript_saves = transcripts_live.install(chats)
        from chatsite.asgi import application as asgi_application

        tasks: list[asyncio.Task] = []
        reactor.callWhenRunning(lambda: tasks.extend(
            asyncio.ensure_future(loop) for loop in (instance.run(), chats.run())
        ))
        reactor.callWhenRunning(lambda: tasks.append(asyncio.ensure_future(transcript_saves.run())))
        reactor.callWhenRunning(PlannedStop(instance).install)
        logger.info(
            "%s: starting (configured %s of pair %s) on %s; open files up to %s (about %s chats)",
            name, application.configured_role, application.pair, application.http_url, files, files // 2,
        )
        websocket_protocol.install(settings.CHAT_MAX_UNSENT_BYTES)
        metrics.install(instance, chats)
        server = Server(
            asgi_application,
            endpoints=[f"tcp:port={application.port}:interface={application.host}:backlog={LISTEN_BACKLOG}"],
            signal_handlers=False,  # PlannedStop's: hand over first, then stop
            verbosity=0,
            # After a socket closes, daphne cancels its handler if it has not ended
            # within this (every socket, not only at a stop): a frame still in flight
            # (a start waiting for routing under a surge) gets this long. Writes and
            # routing run to their end anyway (chat.finish); this only bounds a stuck one.
            application_close_timeout=APPLICATION_CLOSE_TIMEOUT_S,
            # Agents who never refresh: no socket is closed for its age (daphne's
            # default closes every websocket after a day).
            websocket_timeout=-1,
            # The public socket reads no frame larger than the protocol allows
            # (chat.inbound); a larger one closes the socket (1009), not daphne's 1 MiB.
            websocket_max_message_size=MAX_FRAME_BYTES,
            websocket_max_frame_size=MAX_FRAME_BYTES,
        )
        server.run()
        if not server.listening_addresses:
            raise CommandError(f"{name}: could not listen on {application.host}:{application.port}")
        _exit_without_teardown(name)


def _exit_without_teardown(name: str) -> None:
    """Exit once daphne has stopped, without the interpreter's teardown. Every
    socket is closed and the pair handed over by now; what teardown would add is
    freeing the whole heap object by object (a second of CPU at 1,000 chats, on a
    machine where the new primary is meanwhile taking the clients over) and
    joining threads that have nothing left to do. Logs and the database
    connections of this thread are closed first."""
    from django.db import connections

    connections.close_all()
    logger.info("%s: stopped", name)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


class PlannedStop:
    """SIGTERM or Ctrl-C of the serving member is not a failover: hand the pair to
    a live backup as ``ha_switchover`` does (its clients follow the not-primary hint
    and nobody is marked disconnected), and only then stop. A second signal stops
    at once."""

    HAND_OVER_TIMEOUT_S = 15

    def __init__(self, instance: runtime.Instance) -> None:
        self.instance = instance
        self.stopping: asyncio.Task | None = None

    def install(self) -> None:
        loop = asyncio.get_event_loop()  # the reactor's: not running yet when this is called
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.signalled, signum)

    def signalled(self, signum: int) -> None:
        if self.stopping is not None:
            logger.warning("%s: %s again: stopping now", self.instance.name, signal.Signals(signum).name)
            reactor.stop()
            return
        self.stopping = asyncio.ensure_future(self.stop(signal.Signals(signum).name))

    async def stop(self, signame: str) -> None:
        name = self.instance.name
        try:
            target = await self.instance.step_down(self.HAND_OVER_TIMEOUT_S)
        except Exception:
            logger.exception("%s: %s: could not hand the pair over; stopping anyway", name, signame)
        else:
            if target is not None:
                logger.info("%s: %s: handed pair %s over to %s; stopping", name, signame, self.instance.pair, target)
            else:
                logger.info("%s: %s: nothing to hand over (not serving, or no live backup); stopping",
                            name, signame)
        reactor.stop()
