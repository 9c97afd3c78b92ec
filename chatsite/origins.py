"""Which websocket handshakes to let in, by their Origin header."""
from __future__ import annotations

from typing import Any
from urllib.parse import ParseResult

from channels.security.websocket import OriginValidator
from django.conf import settings


class BrowserOriginValidator(OriginValidator):
    """Refuse a page of another site; let in a client that sends no Origin.

    Browsers always send Origin, so a page elsewhere that tries to use an
    agent's cookie is refused. Clients that are not browsers (a test, the
    bench, a bot) send none, and Channels' own validator would refuse them
    for no gain.
    """

    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        return parsed_origin is None or super().valid_origin(parsed_origin)


def browser_origin_validator(application: Any) -> BrowserOriginValidator:
    """As Channels' AllowedHostsOriginValidator: the allowed origins are ALLOWED_HOSTS."""
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(application, allowed_hosts)
