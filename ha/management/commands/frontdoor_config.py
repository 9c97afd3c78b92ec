"""Write the HAProxy config of a pair's front door from its Application rows (ha.frontdoor)."""
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ha import frontdoor


class Command(BaseCommand):
    help = ("Write the HAProxy config of a pair's front door (health-checking /readyz on every member) "
            "from the pair's applications; run it again after changing a member in the admin.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("pair", nargs="?", help="a pair's name (default: the only pair there is)")
        parser.add_argument("--host", default="127.0.0.1",
                            help="the address the door listens on (default: %(default)s)")
        parser.add_argument("--port", type=int, default=frontdoor.DEFAULT_PORT,
                            help="the door's port (default: %(default)s)")
        parser.add_argument("--check-host", default=None,
                            help="the Host header of the health checks (default: the door's own host:port)")
        parser.add_argument("--output", "-o", default=None,
                            help="the file to write (default: var/frontdoor/PAIR.cfg; - prints it)")

    def handle(self, *args, pair: str | None, host: str, port: int, check_host: str | None,
               output: str | None, **options) -> None:
        try:
            pair, members = frontdoor.members_of(pair)
        except frontdoor.FrontDoorError as error:
            raise CommandError(str(error)) from None
        text = frontdoor.render(pair, members, host=host, port=port, check_host=check_host)
        if output == "-":
            self.stdout.write(text, ending="")
            return
        path = frontdoor.write(Path(output) if output else settings.VAR_DIR / "frontdoor" / f"{pair}.cfg", text)
        haproxy = frontdoor.haproxy_binary()
        if haproxy is not None and (problem := frontdoor.check(haproxy, path)):
            raise CommandError(f"haproxy refuses {path}: {problem}")
        self.stdout.write(
            f"wrote {path}: {frontdoor.origin(host, port)} -> "
            + ", ".join(f"{member.name} ({member.address})" for member in members)
            + f"\nrun it with: {' '.join(frontdoor.command(haproxy or 'haproxy', path))}"
        )
