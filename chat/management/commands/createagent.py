from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from chat.agents import AGENTS_GROUP
from chat.supervisors import SUPERVISORS_GROUP

__all__ = ["AGENTS_GROUP", "Command"]


class Command(BaseCommand):
    help = (
        "Create an agent account, or update its password, for /accounts/login/. The password "
        "must pass the project's validators (AUTH_PASSWORD_VALIDATORS: at least 8 characters, "
        "not common, not all digits, not like the username or name)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--password", required=True)
        parser.add_argument("--name", default="",
                            help="the name customers see (default: 'Agent' and a code, never the username)")
        parser.add_argument("--supervisor", action="store_true",
                            help="also a supervisor: opens /supervisor/, monitors, coaches and barges in")

    def handle(self, *args: Any, username: str, password: str, name: str, supervisor: bool = False,
               **options: Any) -> None:
        User = get_user_model()
        with transaction.atomic():
            user = User.objects.filter(username=username).first()
            created = user is None
            if user is None:
                user = User(username=username)
            if name:
                user.first_name = name
            try:
                # Before anything is saved, with the user the password is for (similarity).
                validate_password(password, user)
            except ValidationError as error:
                raise CommandError(f"--password refused: {' '.join(error.messages)}") from None
            user.set_password(password)
            user.is_active = True
            user.save()
            user.groups.add(Group.objects.get_or_create(name=AGENTS_GROUP)[0])
            if supervisor:
                user.groups.add(Group.objects.get_or_create(name=SUPERVISORS_GROUP)[0])
        role = "agent and supervisor" if supervisor else "agent"
        self.stdout.write(f"{'created' if created else 'updated'} {role} {username}")
