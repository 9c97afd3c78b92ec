"""ASGI entry point: HTTP through Django (the probes before it: ha.probes),
websockets through chat.routing."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation  # noqa: E402
from django.http import Http404, HttpRequest, HttpResponse  # noqa: E402

from chat.routing import websocket_urlpatterns  # noqa: E402
from chatsite.origins import browser_origin_validator  # noqa: E402
from ha.checks import secret_key_is_not_the_repository_one  # noqa: E402
from ha.probes import Probes  # noqa: E402

# runchatserver runs every system check; a server started some other way (daphne
# chatsite.asgi:application) must not serve with the repository's key either.
if problems := secret_key_is_not_the_repository_one():
    raise ImproperlyConfigured(f"{problems[0].msg} ({problems[0].id}). {problems[0].hint}")


class StaticFiles(ASGIStaticFilesHandler):
    """Django's static files handler, with a bad path answered 404 instead of 500:
    a path out of the static directories (``/static/../settings.py``) raises
    SuspiciousFileOperation, a NUL in it (``/static/%00``) ValueError, and Django
    catches only Http404 here (issue 9)."""

    def serve(self, request: HttpRequest) -> HttpResponse:
        try:
            return super().serve(request)
        except (SuspiciousOperation, ValueError):
            raise Http404("no such static file") from None


application = ProtocolTypeRouter(
    {
        # The pages' CSS and JavaScript are a few small files: each instance serves
        # them itself, so a pair needs no web server in front to be usable.
        # /healthz, /readyz and /api/ha/topology are answered on the loop, with no
        # thread (ha.probes): they are asked most while a takeover keeps it busy.
        "http": Probes(StaticFiles(django_asgi_app)),
        "websocket": browser_origin_validator(
            URLRouter(websocket_urlpatterns)
        ),
    }
)
