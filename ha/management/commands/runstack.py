"""The whole local stack in one command (make run): a secret key, Redis if none
answers (with an append-only file in var/redis), migrations, the default pair,
both instances, a transcript worker and the pair's front door (HAProxy on port
8000, its config written into var/frontdoor from the pair's rows; issue 12). ``--sentinel`` (make run-sentinel) runs
it on a local Redis Sentinel setup instead (chatsite.sentinelstack, issue 11)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from chatsite import devredis, redisconf, sentinelstack
from chatsite.env import make_secret_key
from ha import frontdoor
from ha.management.commands.ensure_default_pair import MEMBERS, PAIR
from ha.models import Application


def give_the_stack_a_key() -> Path:
    """A key of this checkout's own, made once and reused (logins outlive a
    restart): this process's, and in the environment every process started here
    inherits. Its file."""
    key_file = settings.SECRET_KEY_FILE
    os.environ["SECRET_KEY"] = settings.SECRET_KEY = make_secret_key(key_file)
    return key_file


class Command(BaseCommand):
    help = "Run the default pair, a transcript worker and the pair's front door until Ctrl-C."
    requires_system_checks = []  # run below, once the stack has its key

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--sentinel", action="store_true",
            help="run on a local Sentinel setup (a master, a replica, three sentinels; started in "
                 "var/sentinel unless its sentinels answer) instead of REDIS_URL",
        )
        parser.add_argument(
            "--front-door-port", type=int, default=frontdoor.DEFAULT_PORT,
            help="the port of the front door (HAProxy; default %(default)s); 0: run without one",
        )

    def handle(self, *args, **options) -> None:
        if not os.environ.get("SECRET_KEY"):
            self.stdout.write(f"SECRET_KEY: the one in {give_the_stack_a_key()} (set SECRET_KEY to give another)")
        self.check()
        redis_servers = self.start_redis(options["sentinel"])
        call_command("migrate", verbosity=0)
        call_command("ensure_default_pair")

        python = sys.executable
        commands = {
            **{name: [python, "manage.py", "runchatserver", name] for name, _, _ in MEMBERS},
            "worker": [python, "-m", "celery", "-A", "chatsite", "worker", "--loglevel", "INFO",
                       "--concurrency", "2"],
        }
        door = self.front_door(options["front_door_port"])
        if door is not None:
            commands["front door"] = door
            # The members' websockets and topology let in the door's pages (chatsite.origins).
            allowed = [o for o in os.environ.get("CHAT_ALLOWED_ORIGINS", "").split(",") if o.strip()]
            os.environ["CHAT_ALLOWED_ORIGINS"] = ",".join(
                [*allowed, *(frontdoor.origin(name, options["front_door_port"]) for name in ("127.0.0.1", "localhost"))]
            )
        children = {name: subprocess.Popen(command, cwd=settings.BASE_DIR) for name, command in commands.items()}
        members = [Application.objects.get(name=name) for name, _, _ in MEMBERS]
        address = frontdoor.origin("127.0.0.1", options["front_door_port"]) if door else members[0].http_url
        self.stdout.write(
            f"\nChat HA web sample:  {address}/\n"
            f"Agent desktop:       {address}/agent/  "
            "(make an agent: python manage.py createagent USER --password P)\n"
            f"Supervisor page:     {address}/supervisor/  (createagent USER --password P --supervisor)\n"
            f"Admin:               {address}/admin/  (python manage.py createsuperuser)\n"
            f"Topology:            {address}/api/ha/topology\n"
            + "".join(f"Member {app.name + ':':<13} {app.http_url}/  (its metrics: {app.http_url}/metrics)\n"
                      for app in members)
            + "Ctrl-C stops everything.\n"
        )
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                # A member that dies (kill -9 is the seed's own test) leaves its
                # partner serving; the stack goes on and says how to bring it back.
                for name, child in list(children.items()):
                    if child.poll() is not None:
                        self.stdout.write(
                            f"{name} exited ({child.returncode}); the rest runs on. Restart it with: "
                            f"{' '.join(commands[name])}"
                        )
                        del children[name]
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        running = [*children.values(), *redis_servers]
        for child in running:
            if child is not None and child.poll() is None:
                child.terminate()
        for child in running:
            if child is not None:
                try:
                    child.wait(10)
                except subprocess.TimeoutExpired:
                    child.kill()

    def front_door(self, port: int) -> list[str] | None:
        """Write the default pair's front door config into var/frontdoor; the command
        that runs HAProxy on it, or None (said why) to run without a door."""
        if not port:
            return None
        haproxy = frontdoor.haproxy_binary()
        if haproxy is None:
            self.stdout.write(
                "no haproxy here (make run installs it: apt-get install haproxy): running without the "
                "front door; use the members' own addresses below"
            )
            return None
        pair, members = frontdoor.members_of(PAIR)
        path = frontdoor.write(settings.VAR_DIR / "frontdoor" / f"{pair}.cfg",
                               frontdoor.render(pair, members, port=port))
        if problem := frontdoor.check(haproxy, path):
            self.stdout.write(f"haproxy refuses {path} ({problem}): running without the front door")
            return None
        self.stdout.write(f"front door: HAProxy on port {port}, health-checking {frontdoor.CHECK_PATH} ({path})")
        return frontdoor.command(haproxy, path)

    def start_redis(self, sentinel: bool) -> list[subprocess.Popen]:
        """Start the Redis the stack needs unless it answers already; what was started.
        With ``sentinel``, the setup's variables go into the environment every process
        started here inherits."""
        if not sentinel:
            config = redisconf.config()
            if config.uses_sentinel:
                self.stdout.write(f"using {config.describe()} (REDIS_SENTINELS is set)")
                return []
            server = devredis.start_embedded(settings.REDIS_URL, settings.VAR_DIR / "redis")
            if server is None:
                return []
            self.stdout.write(f"started a redis-server at {settings.REDIS_URL} (append-only file in var/redis)")
            return [server]
        setup = sentinelstack.local(settings.VAR_DIR / "sentinel")
        started: list[subprocess.Popen] = []
        if setup.master_port() is None:
            setup = sentinelstack.start(settings.VAR_DIR / "sentinel")
            started = list(setup.processes.values())
            self.stdout.write(f"started a Sentinel setup in {setup.workdir}: Redis on ports "
                              f"{', '.join(map(str, setup.redis_ports))}, sentinels on {setup.sentinels}")
        os.environ.update(setup.env())
        variables = " ".join(f"{name}={value}" for name, value in setup.env().items())
        self.stdout.write(
            f"Redis through Sentinel: {variables}\n(the master is on port {setup.master_port()}; fail it over "
            f"with: redis-cli -p {setup.sentinel_ports[0]} sentinel failover {setup.master_name})"
        )
        return started
