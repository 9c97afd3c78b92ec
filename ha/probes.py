"""``/healthz``, ``/readyz`` and ``/api/ha/topology``, answered on the event loop
before Django's request handling.

Django's ASGI handler gives every request a thread-sensitive context of its own:
a new thread for the request's synchronous signal handlers, and another that
joins it when the request ends; and starting a thread makes the event loop
wait until the new thread holds the GIL. On a member that has just taken over
1,000 chats, with the loop answering 2,000 resumes, that made ``/readyz``
answer 1.3-2.4 s after it was asked while the member had served for a while
(bench/README.md, issue 8). A load balancer's check and the topology that
every page reads after a reconnect are asked most exactly then. None of
these three touches the database or a session, so they need none of that:
they are answered here from what the instance knows, with no thread and no
I/O. Every other request goes on to Django.
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from chatsite.origins import allowed as allowed_origins

from .runtime import Instance, current
from .topology import topology

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[dict[str, Any]]], Callable[[dict[str, Any]], Awaitable[None]]],
                   Awaitable[None]]
Answer = tuple[int, str, bytes, list[tuple[bytes, bytes]]]  # status, content type, body, more headers

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"


def health(instance: Instance | None, origin: str | None) -> Answer:
    """Alive: the process answers (a load balancer's liveness check)."""
    return 200, TEXT, b"ok\n", []


def readiness(instance: Instance | None, origin: str | None) -> Answer:
    """200 only on the serving primary, so that a load balancer routes to it alone."""
    if instance is not None and instance.serving:
        return 200, TEXT, f"primary {instance.name} epoch {instance.epoch}\n".encode(), []
    role = instance.role if instance is not None else "no instance"
    return 503, TEXT, f"not serving ({role})\n".encode(), []


def pair_topology(instance: Instance | None, origin: str | None) -> Answer:
    """Who serves the pair and who waits (ha.topology). The pages read it from the
    other member of the pair too: that member's pages may, and only our own pages
    may (no ``*``: issue 9)."""
    headers = [(b"vary", b"Origin"), (b"cache-control", b"no-store")]
    if allowed_origins.allows(origin):
        headers.append((b"access-control-allow-origin", origin.encode("latin-1")))
    if instance is None:
        return 503, JSON, b'{"error": "not a chat server instance"}', headers
    return 200, JSON, json.dumps(topology(instance)).encode(), headers


PROBES: dict[str, Callable[[Instance | None, str | None], Answer]] = {
    "/healthz": health,
    "/readyz": readiness,
    "/api/ha/topology": pair_topology,
}


class Probes:
    """An ASGI application: the PROBES paths (GET and HEAD) answered here, the rest
    handed to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        probe = PROBES.get(scope.get("path", "")) if scope["type"] == "http" else None
        if probe is None or scope.get("method") not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        origin = next((value.decode("latin-1") for name, value in scope.get("headers", ())
                       if name == b"origin"), None)
        status, content_type, body, headers = probe(current(), origin)
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
                        (b"x-content-type-options", b"nosniff"), *headers],
        })
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
