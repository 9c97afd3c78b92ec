"""The probes answered before Django (ha.probes): with no thread, and nothing else
taken from Django's requests. Their answers on a real pair are checked in
test_failover, test_deployment_edges and test_frontdoor_config."""
from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from ha import probes
from ha.probes import Probes


async def call(app: Any, path: str, method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None
               ) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": path, "method": method, "headers": headers or []}
    await app(scope, receive, send)
    start, body = sent[0], b"".join(message.get("body", b"") for message in sent[1:])
    return start["status"], dict(start["headers"]), body


async def django(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 418, "headers": []})
    await send({"type": "http.response.body", "body": b"django"})


@pytest.fixture
def no_thread(monkeypatch):
    """Starting a thread fails the test: a probe must not need one."""
    def refuse(self: threading.Thread) -> None:
        raise AssertionError(f"a probe started a thread ({self.name})")

    monkeypatch.setattr(threading.Thread, "start", refuse)


@pytest.mark.parametrize("serving, status, body", [
    (True, 200, b"primary alpha epoch 7\n"),
    (False, 503, b"not serving (backup)\n"),
])
def test_readyz_says_whether_the_instance_serves_with_no_thread(monkeypatch, no_thread, serving, status, body):
    instance = SimpleNamespace(serving=serving, name="alpha", epoch=7, role="backup")
    monkeypatch.setattr(probes, "current", lambda: instance)
    assert asyncio.run(call(Probes(django), "/readyz"))[::2] == (status, body)


def test_a_head_gets_the_status_and_no_body(no_thread):
    status, headers, body = asyncio.run(call(Probes(django), "/healthz", method="HEAD"))
    assert (status, body, headers[b"content-length"]) == (200, b"", b"3")


@pytest.mark.parametrize("path, method", [
    ("/readyz", "POST"), ("/readyz/", "GET"), ("/metrics", "GET"), ("/", "GET"), ("/api/ha/topology/x", "GET"),
])
def test_everything_else_goes_to_django(path, method):
    assert asyncio.run(call(Probes(django), path, method=method))[::2] == (418, b"django")


def test_the_topology_outside_a_chat_server_instance_says_so(monkeypatch, no_thread):
    monkeypatch.setattr(probes, "current", lambda: None)
    status, headers, body = asyncio.run(call(Probes(django), "/api/ha/topology",
                                             headers=[(b"origin", b"https://elsewhere.example")]))
    assert status == 503 and b"not a chat server instance" in body
    assert b"access-control-allow-origin" not in headers and headers[b"cache-control"] == b"no-store"
