"""Run one chat server instance (daphne) for a configured application."""
# isort: off
import daphne.server  # noqa: F401  (installs the asyncio reactor: must come first)

# isort: on

import asyncio
import logging

from daphne.server import Server
from django.core.management.base import BaseCommand, CommandError
from twisted.internet import reactor

from chat import service as chat_service
from ha import runtime
from ha.models import Application
from transcripts import live as transcripts_live

logger = logging.getLogger("ha")


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
        instance = runtime.Instance(application, application.settings())
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
        logger.info(
            "%s: starting (configured %s of pair %s) on %s",
            name, application.configured_role, application.pair, application.http_url,
        )
        server = Server(
            asgi_application,
            endpoints=[f"tcp:port={application.port}:interface={application.host}"],
            signal_handlers=True,
            verbosity=0,
            # On Ctrl-C or SIGTERM, give open sockets this long to close, not daphne's 10 s.
            application_close_timeout=2,
        )
        server.run()
        if not server.listening_addresses:
            raise CommandError(f"{name}: could not listen on {application.host}:{application.port}")
