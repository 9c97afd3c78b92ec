"""Which pages may use the chat: the websockets' handshakes and the CORS answer
of /api/ha/topology, by their Origin header.

An origin is a scheme, a host and a port. Ours are the pair members' own (each
member's ``http_url``, and its port under any name of ALLOWED_HOSTS) and those
of CHAT_ALLOWED_ORIGINS (a front door). Any other page is refused, another port
of the same host included: a host name alone let in whatever else ran on the
machine (issue 9).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import ParseResult, SplitResult, urlsplit

from channels.security.websocket import OriginValidator
from django.conf import settings

from ha import runtime
from ha.models import Application

Origin = tuple[str, str, int]  # scheme, host name (lower case, no brackets), port

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(parsed: ParseResult | SplitResult) -> Origin | None:
    """The origin of a parsed URL; None when it is no http(s) origin (``null``, a file)."""
    try:
        port = parsed.port
    except ValueError:  # not a number, or out of range
        return None
    if parsed.scheme not in DEFAULT_PORTS or not parsed.hostname:
        return None
    return parsed.scheme, parsed.hostname, port or DEFAULT_PORTS[parsed.scheme]


def parse_origin(value: str) -> Origin | None:
    """See origin_of()."""
    return origin_of(urlsplit(value.strip().lower()))


def allowed_origins(members: Iterable[Application], extra: Iterable[str],
                    host_names: Iterable[str]) -> frozenset[Origin]:
    """The pair's own pages, and ``extra``; see the module's docstring."""
    names = {name.strip("[]").lower() for name in host_names if name and name[0] not in ".*"}
    origins: set[Origin | None] = {parse_origin(origin) for origin in extra}
    for member in members:
        origins.add(parse_origin(member.http_url))
        origins.update(("http", name, member.port) for name in {*names, member.host.strip("[]").lower()})
    origins.discard(None)
    return frozenset(origins)  # type: ignore[arg-type]  (None is gone)


class AllowedOrigins:
    """The allowed set for this process, rebuilt only when what it is made of
    changes: the instance's members (re-read with its options, once a second, from
    the database rows) or the settings. A handshake costs a set look-up, no query."""

    NO_MEMBERS: dict[str, Application] = {}  # outside runchatserver: one object, so no rebuild each time

    def __init__(self) -> None:
        self._made_of: tuple[Any, ...] = (None, None, None)
        self._origins: frozenset[Origin] = frozenset()

    def current(self) -> frozenset[Origin]:
        instance = runtime.current()
        members = instance.members if instance is not None else self.NO_MEMBERS
        made_of = (members, settings.CHAT_ALLOWED_ORIGINS, settings.ALLOWED_HOSTS)
        if any(now is not before for now, before in zip(made_of, self._made_of, strict=True)):
            self._origins = allowed_origins(members.values(), settings.CHAT_ALLOWED_ORIGINS, settings.ALLOWED_HOSTS)
            self._made_of = made_of
        return self._origins

    def allows(self, origin: str | None) -> bool:
        """Whether the page of Origin header ``origin`` is ours (None: no header, no page)."""
        return origin is not None and parse_origin(origin) in self.current()


allowed = AllowedOrigins()


class BrowserOriginValidator(OriginValidator):
    """Refuse a page of another origin; let in a client that sends no Origin.

    Browsers always send Origin, so a page elsewhere that tries to use an
    agent's cookie is refused (a 403 to the handshake). Clients that are not
    browsers (a test, the bench, a bot) send none, and Channels' own validator
    would refuse them for no gain: they could send any Origin they like anyway.
    """

    def __init__(self, application: Any) -> None:
        super().__init__(application, allowed_origins=[])

    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        return parsed_origin is None or origin_of(parsed_origin) in allowed.current()


def browser_origin_validator(application: Any) -> BrowserOriginValidator:
    """Wrap the websocket application in the origin check."""
    return BrowserOriginValidator(application)
