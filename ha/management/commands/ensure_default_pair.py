"""Create the default pair chat-primary + chat-backup when missing (make run)."""
from django.core.management.base import BaseCommand
from django.db import transaction

from ha.models import Application, Option

PAIR = "chat"
MEMBERS = [
    ("chat-primary", Application.Role.PRIMARY, 8001),
    ("chat-backup", Application.Role.BACKUP, 8002),
]
# The seed's HA recommendation for both members of a pair.
HA_OPTIONS = {
    "session-restoration-mode": "simple",
    "transcript-auto-save": "1",
    "transcript-save-on-error": "close",
}


class Command(BaseCommand):
    help = "Create the default HA pair (chat-primary on 8001, chat-backup on 8002) if missing."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        for name, role, port in MEMBERS:
            application, created = Application.objects.get_or_create(
                name=name, defaults={"pair": PAIR, "configured_role": role, "host": "127.0.0.1", "port": port}
            )
            if created:
                for option, value in HA_OPTIONS.items():
                    Option.objects.create(application=application, name=option, value=value)
                self.stdout.write(f"created {application}")
