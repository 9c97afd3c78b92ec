"""Options live in the database, are checked on save, and reach a running instance."""
import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import Client as HttpClient

from ha import options
from ha.models import Option

from .harness import new_client_id, wait_for


@pytest.fixture
def admin_client(transactional_db) -> HttpClient:
    get_user_model().objects.create_superuser("root", "root@example.com", "secret")
    http = HttpClient()
    http.login(username="root", password="secret")
    return http


def inline_form(application, name: str, value: str) -> dict[str, str]:
    """The admin's change form for an application, with one option row added."""
    return {
        "name": application.name, "pair": application.pair, "configured_role": application.configured_role,
        "host": application.host, "port": str(application.port),
        "options-TOTAL_FORMS": "1", "options-INITIAL_FORMS": "0",
        "options-MIN_NUM_FORMS": "0", "options-MAX_NUM_FORMS": "1000",
        "options-0-name": name, "options-0-value": value,
    }


def test_the_admin_refuses_a_bad_value_naming_the_option_and_what_is_allowed(admin_client, make_application):
    application = make_application()
    response = admin_client.post(
        f"/admin/ha/application/{application.pk}/change/",
        inline_form(application, "session-restoration-mode", "sometimes"),
    )
    assert response.status_code == 200  # the form again, with the error
    page = response.content.decode()
    assert "session-restoration-mode" in page and "none, simple" in page and "sometimes" in page
    assert not Option.objects.filter(application=application).exists()


def test_the_admin_stores_a_good_value(admin_client, make_application):
    application = make_application()
    response = admin_client.post(
        f"/admin/ha/application/{application.pk}/change/", inline_form(application, "transcript-auto-save", "2")
    )
    assert response.status_code == 302
    assert application.settings()["transcript-auto-save"] == "2"


@pytest.mark.parametrize(
    ("name", "value"),
    [("transcript-resend-attempts", "-1"), ("transcript-resend-delay", "0"), ("max-message-length", "lots"),
     ("transcript-save-notices", "some")],
)
def test_a_bad_value_is_refused_however_it_is_saved(make_application, name, value):
    application = make_application()
    with pytest.raises(ValidationError) as refused:
        Option.objects.create(application=application, name=name, value=value)
    assert name in str(refused.value) and options.OPTIONS[name].allowed in str(refused.value)


def test_every_option_has_a_default_that_parses_and_a_help_text():
    for option in options.OPTIONS.values():
        option.clean(option.default)
        assert option.help and option.allowed
    assert options.Settings()["session-restoration-mode"] == "none"


def test_a_running_instance_sees_a_changed_option_without_a_restart(server, customer, agent):
    alice = agent("alice")
    carol = customer("Carol")
    alice.until(type="assigned")
    carol.send(type="message", text="x" * 20, client_id=new_client_id())
    carol.until(type="message")

    application = server_application(server)
    Option.objects.create(application=application, name="max-message-length", value="10")

    def refused() -> bool:
        carol.send(type="message", text="y" * 20, client_id=new_client_id())
        frame = carol.recv()
        while frame["type"] not in ("error", "message"):
            frame = carol.recv()
        return frame["type"] == "error" and frame["code"] == "too-long"

    wait_for(refused, timeout=3, what="the new limit to apply", interval=0.2)


def server_application(server):
    from ha.models import Application

    return Application.objects.get(name=server.name)


def test_a_system_check_warns_when_the_members_of_a_pair_differ(make_application):
    from ha.checks import pair_members_agree

    make_application("one", pair="twins", transcript_auto_save="1")
    make_application("two", pair="twins", role="backup", transcript_auto_save="2")
    warnings = pair_members_agree(databases=["default"])
    assert [w.id for w in warnings] == ["ha.W001"]
    assert "transcript-auto-save" in warnings[0].msg
    Option.objects.filter(application__name="two").update(value="1")
    assert pair_members_agree(databases=["default"]) == []


def test_every_option_is_documented_with_its_default():
    from .harness import ROOT

    page = (ROOT / "docs" / "options.md").read_text()
    for option in options.OPTIONS.values():
        row = next((line for line in page.splitlines() if line.startswith(f"| `{option.name}` |")), None)
        assert row is not None, f"{option.name} is not in docs/options.md"
        assert f"| `{option.default}` |" in row, f"docs/options.md gives {option.name} another default"


@pytest.mark.django_db
def test_the_migrations_cover_every_option():
    """An option added to ha.options changes the Option.name choices: it needs a migration."""
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
