"""ASGI entry point: HTTP through Django, websockets through chat.routing."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from chat.routing import websocket_urlpatterns  # noqa: E402
from chatsite.origins import browser_origin_validator  # noqa: E402

application = ProtocolTypeRouter(
    {
        # The pages' CSS and JavaScript are a few small files: each instance serves
        # them itself, so a pair needs no web server in front to be usable.
        "http": ASGIStaticFilesHandler(django_asgi_app),
        "websocket": browser_origin_validator(
            URLRouter(websocket_urlpatterns)
        ),
    }
)
