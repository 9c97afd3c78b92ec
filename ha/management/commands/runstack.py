"""The whole local stack in one command (make run): Redis if none answers,
migrations, the default pair, both instances and a transcript worker."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from chatsite import devredis
from ha.management.commands.ensure_default_pair import MEMBERS
from ha.models import Application


class Command(BaseCommand):
    help = "Run the default pair and a transcript worker until Ctrl-C."

    def handle(self, *args, **options) -> None:
        redis_server = devredis.start_embedded(settings.REDIS_URL, settings.VAR_DIR / "redis")
        if redis_server is not None:
            self.stdout.write(f"started an embedded redis-server at {settings.REDIS_URL}")
        call_command("migrate", verbosity=0)
        call_command("ensure_default_pair")

        python = sys.executable
        children = [
            subprocess.Popen([python, "manage.py", "runchatserver", name], cwd=settings.BASE_DIR)
            for name, _, _ in MEMBERS
        ]
        children.append(subprocess.Popen(
            [python, "-m", "celery", "-A", "chatsite", "worker", "--loglevel", "INFO", "--concurrency", "2"],
            cwd=settings.BASE_DIR,
        ))
        primary = Application.objects.get(name=MEMBERS[0][0])
        self.stdout.write(
            f"\nChat HA web sample:  {primary.http_url}/\n"
            f"Agent desktop:       {primary.http_url}/agent/  "
            "(make an agent: python manage.py createagent USER --password P)\n"
            f"Admin:               {primary.http_url}/admin/  (python manage.py createsuperuser)\n"
            f"Topology:            {primary.http_url}/api/ha/topology\n"
            "Ctrl-C stops everything.\n"
        )
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and all(child.poll() is None for child in children):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        for child in [*children, redis_server]:
            if child is not None and child.poll() is None:
                child.terminate()
        for child in [*children, redis_server]:
            if child is not None:
                try:
                    child.wait(10)
                except subprocess.TimeoutExpired:
                    child.kill()
