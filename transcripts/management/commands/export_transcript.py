"""Print a saved transcript as text or JSON."""
import json

from django.core.management.base import BaseCommand, CommandError

from transcripts import export
from transcripts.models import Transcript


class Command(BaseCommand):
    help = "Print the saved transcript of chat session SESSION_ID as text (default) or JSON."

    def add_arguments(self, parser) -> None:
        parser.add_argument("session_id")
        parser.add_argument("--format", choices=["text", "json"], default="text")
        parser.add_argument("--for-customer", action="store_true",
                            help="as the customer was shown it: no internal event (coaching), its own seq count")

    def handle(self, *args, session_id: str, format: str, for_customer: bool = False, **options) -> None:
        try:
            transcript = Transcript.objects.get(session_id=session_id)
        except Transcript.DoesNotExist:
            raise CommandError(f"no saved transcript for session {session_id!r}") from None
        if format == "json":
            data = export.as_json(transcript, customer=for_customer)
            self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            self.stdout.write(export.as_text(transcript, customer=for_customer), ending="")
