import json

from django.core.management.base import BaseCommand

from ha.status import connect, pair_status, pairs_named
from transcripts.due import STUCK_AFTER_S


class Command(BaseCommand):
    help = "Print each instance's role and liveness, the pair's epoch and its open sessions."

    def add_arguments(self, parser) -> None:
        parser.add_argument("pair", nargs="?", help="a pair's name (default: every pair)")
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="one JSON object per pair, one per line"
        )

    def handle(self, *args, pair: str | None, as_json: bool, **options) -> None:
        client = connect()
        for name in pairs_named(pair):
            status = pair_status(client, name)
            if as_json:
                self.stdout.write(json.dumps(status))
                continue
            self.stdout.write(
                f"pair {status['pair']}: epoch {status['epoch']}, primary {status['primary'] or 'none'}, "
                f"{status['open_sessions']} open sessions, {status['queued']} waiting for an agent, "
                f"{status['transcripts_owed']} transcripts owed a save"
                + (f" ({status['transcripts_stuck']} for over {STUCK_AFTER_S // 60} min: is the store or "
                   "every worker down?)" if status["transcripts_stuck"] else "")
            )
            for member in status["instances"]:
                self.stdout.write(
                    f"  {member['name']:<20} {member['role']:<8} "
                    f"{'alive' if member['alive'] else 'not running':<12} "
                    f"configured {member['configured_role']:<8} {member['http']}"
                )

