from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

AGENTS_GROUP = "agents"


class Command(BaseCommand):
    help = "Create an agent account, or update its password, for /accounts/login/."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--password", required=True)
        parser.add_argument("--name", default="", help="the name customers see (default: the username)")

    def handle(self, *args, username: str, password: str, name: str, **options) -> None:
        if not password:
            raise CommandError("--password must not be empty")
        user, created = get_user_model().objects.get_or_create(username=username)
        user.set_password(password)
        user.is_active = True
        if name:
            user.first_name = name
        user.save()
        user.groups.add(Group.objects.get_or_create(name=AGENTS_GROUP)[0])
        self.stdout.write(f"{'created' if created else 'updated'} agent {username}")
