"""Real processes and real websocket clients for the tests."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from django.db import connection
from websockets.sync.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The test database, as a URL the child processes can use."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(redis_url: str, redis_prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
        "PYTHONUNBUFFERED": "1",
        "OPTIONS_POLL_MS": "200",
    }


def http_get(url: str, timeout: float = 2) -> tuple[int, bytes]:
    from urllib.error import HTTPError, URLError

    try:
        with urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except HTTPError as error:
        return error.code, error.read()
    except (URLError, ConnectionError, TimeoutError):
        return 0, b""


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class ServerProcess:
    """One ``manage.py runchatserver NAME`` child process."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runchatserver", self.name],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        wait_for(lambda: self._alive() and http_get(f"{self.http}/healthz")[0] == 200, 20,
                 f"{self.name} to answer /healthz")
        return self

    def _alive(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
        return True

    def wait_serving(self, timeout: float = 10) -> None:
        wait_for(lambda: http_get(f"{self.http}/readyz")[0] == 200, timeout, f"{self.name} to serve")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            if sig in (signal.SIGKILL, signal.SIGTERM):
                self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Client:
    """A websocket client that remembers every frame it got."""

    ws: ClientConnection
    frames: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def open(cls, url: str, cookie: str | None = None) -> Client:
        origin = url.replace("ws://", "http://").split("/ws/")[0]
        headers = {"Cookie": f"sessionid={cookie}"} if cookie else None
        return cls(connect(url, origin=origin, additional_headers=headers, open_timeout=5))

    def send(self, **frame: Any) -> None:
        self.ws.send(json.dumps(frame))

    def send_raw(self, data: str | bytes) -> None:
        self.ws.send(data)

    def recv(self, timeout: float = 5) -> dict[str, Any]:
        frame = json.loads(self.ws.recv(timeout=timeout))
        self.frames.append(frame)
        return frame

    def until(self, timeout: float = 5, **match: Any) -> dict[str, Any]:
        """Receive until a frame has every key/value of ``match``; return it."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no frame matching {match}; got {self.frames[-10:]}")
            frame = self.recv(timeout=left)
            if all(frame.get(key) == value for key, value in match.items()):
                return frame

    def quiet(self, seconds: float = 0.3) -> list[dict[str, Any]]:
        """Whatever arrives within ``seconds``: to check that nothing more came."""
        got = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                got.append(self.recv(timeout=left))
            except TimeoutError:
                break
        return got

    def events(self, session_id: str) -> list[dict[str, Any]]:
        """The session's events this client got, each seq once, in seq order."""
        by_seq = {f["seq"]: f for f in self.frames if f.get("session_id") == session_id and "seq" in f}
        return [by_seq[seq] for seq in sorted(by_seq)]

    def close(self) -> None:
        self.ws.close()


def new_client_id() -> str:
    return str(uuid.uuid4())
