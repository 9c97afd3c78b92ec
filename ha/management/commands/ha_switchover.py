"""Move a pair's primary role to its backup gracefully (the seed's "switch over")."""
import time
from urllib.error import URLError
from urllib.request import urlopen

from django.core.management.base import BaseCommand, CommandError

from chatsite import rediskeys
from ha.status import connect, pair_status, pairs_named


class Command(BaseCommand):
    help = "Hand the primary role of PAIR to its backup; exit 0 once the new primary serves."

    def add_arguments(self, parser) -> None:
        parser.add_argument("pair", nargs="?", help="the pair (default: the only configured one)")
        parser.add_argument("--timeout", type=float, default=15.0, help="seconds to wait (default 15)")

    def handle(self, *args, pair: str | None, timeout: float, **options) -> None:
        pairs = pairs_named(pair)
        if len(pairs) > 1:
            raise CommandError(f"several pairs are configured; name one of: {', '.join(pairs)}")
        client = connect()
        status = pair_status(client, pairs[0])
        if status["primary"] is None:
            raise CommandError(f"pair {status['pair']} has no primary serving: nothing to switch over")
        backups = [m for m in status["instances"] if m["role"] == "backup"]
        if not backups:
            raise CommandError(f"pair {status['pair']} has no live backup to switch over to")
        target = backups[0]
        client.set(rediskeys.pair_switchover(status["pair"]), target["name"], px=int(timeout * 1000))
        self.stdout.write(f"asked {status['primary']} to hand pair {status['pair']} over to {target['name']}")

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if client.get(rediskeys.pair_lease(status["pair"])) == target["name"] and _ready(target["http"]):
                epoch = client.get(rediskeys.pair_epoch(status["pair"]))
                self.stdout.write(f"{target['name']} now serves pair {status['pair']} at epoch {epoch}")
                return
            time.sleep(0.1)
        client.delete(rediskeys.pair_switchover(status["pair"]))
        raise CommandError(f"{target['name']} did not start serving within {timeout:g} s")


def _ready(http_url: str) -> bool:
    try:
        with urlopen(f"{http_url}/readyz", timeout=1) as response:
            return response.status == 200
    except (URLError, OSError):
        return False
