"""What one idle websocket costs a daphne process, before any chat code (issue 14).

    .venv/bin/python bench/socket_memory.py [--sockets 2000]

Starts daphne twice on a free port, each time with an application that only
accepts websockets: a bare ASGI callable (daphne, Twisted and autobahn
alone), then a Channels ``AsyncWebsocketConsumer`` with no channel layer
(what Channels adds). Opens ``--sockets`` idle sockets to each and prints the
server's RSS growth per socket: the floor under the chat server's own figure
(``--idle``: two sockets a chat).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

CONCURRENCY = 25  # handshakes in flight (see clients.OPEN_CONCURRENCY)
SETTLE_SECONDS = 2.0  # after the last socket opens, before RSS is read

BARE = '''
async def application(scope, receive, send):
    if scope["type"] != "websocket":
        return
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.disconnect":
            return
'''

CHANNELS = '''
import django
from django.conf import settings
settings.configure(INSTALLED_APPS=["channels"], CHANNEL_LAYERS={})
django.setup()
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import URLRouter
from django.urls import path

class Accepting(AsyncWebsocketConsumer):
    channel_layer_alias = None

    async def connect(self):
        await self.accept()

application = URLRouter([path("ws/", Accepting.as_asgi())])
'''


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"daphne did not listen on {port}")


async def open_idle(port: int, sockets: int) -> list:
    gate = asyncio.Semaphore(CONCURRENCY)
    opened = []

    async def one() -> None:
        async with gate:
            opened.append(await connect(f"ws://127.0.0.1:{port}/ws/", compression=None, ping_interval=None,
                                        proxy=None))

    await asyncio.gather(*(one() for _ in range(sockets)))
    return opened


def measure(name: str, source: str, sockets: int) -> float:
    """KiB of server RSS per idle socket with ``source`` as the application."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "probe.py").write_text(source)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "daphne", "-p", str(port), "probe:application"],
                                  cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env={**os.environ, "PYTHONPATH": folder})
        try:
            wait_listening(port)
            before = rss_kib(server.pid)

            async def run() -> int:
                opened = await open_idle(port, sockets)
                await asyncio.sleep(SETTLE_SECONDS)
                after = rss_kib(server.pid)
                await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)
                return after

            after = asyncio.run(run())
        finally:
            server.kill()
            server.wait()
    per_socket = (after - before) / sockets
    print(f"{name}: {sockets} idle sockets, server RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB: "
          f"{per_socket:.1f} KiB a socket, {2 * per_socket:.1f} KiB a chat (two sockets)")
    return per_socket


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=2000, help="idle sockets to open (default 2000)")
    args = parser.parse_args()
    measure("daphne alone (a bare ASGI app)", BARE, args.sockets)
    measure("daphne + a Channels consumer", CHANNELS, args.sockets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
