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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from django.db import connection
from websockets.exceptions import ConnectionClosed, InvalidHandshake
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


def receive_until(recv: Callable[..., dict[str, Any]], timeout: float, match: dict[str, Any],
                  frames: list[dict[str, Any]]) -> dict[str, Any]:
    """Call ``recv`` until a frame has every key/value of ``match``; return it."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        frame = recv(timeout=left)
        if all(frame.get(key) == value for key, value in match.items()):
            return frame
    raise AssertionError(f"no frame matching {match}; got {frames[-10:]}")


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
        # As a browser does: it answers the server's pings and sends none of its own, so
        # a server slowed by a test's load is not taken for a dead one.
        return cls(connect(url, origin=origin, additional_headers=headers, open_timeout=5, ping_interval=None))

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
        return receive_until(self.recv, timeout, match, self.frames)

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


def open_customer(server: ServerProcess, clients: list[Client], nickname: str, *,
                  wait_started: bool = True) -> Client:
    """A customer socket on ``server`` that sends ``start``, kept in ``clients`` (the
    fixture closes them); with ``wait_started``, its ``started`` frame as ``.started``."""
    client = Client.open(f"{server.ws}/ws/chat/")
    clients.append(client)
    client.send(type="start", nickname=nickname)
    if wait_started:
        client.started = client.until(type="started")
    return client


def open_agent(server: ServerProcess, clients: list[Client], agent_cookie, username: str) -> Client:
    """An agent socket on ``server``, logged in as ``username`` and ``ready``."""
    client = Client.open(f"{server.ws}/ws/agent/", cookie=agent_cookie(username))
    clients.append(client)
    client.send(type="ready")
    return client


def new_client_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Participant:
    """A client that fails over as the pages do: it knows every server of the
    pair, follows not-primary, resumes from its last seq and re-sends by client_id
    every message it has not seen come back."""

    servers: list[str]  # ws base URLs, the primary first
    path: str  # /ws/chat/ or /ws/agent/
    cookie: str | None = None
    client: Client | None = None
    seen: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)  # session -> seq -> event
    unacked: dict[str, dict[str, Any]] = field(default_factory=dict)  # client_id -> frame
    resume_frame: dict[str, Any] | None = None
    connected_to: str = ""

    def connect(self, timeout: float = 10) -> dict[str, Any] | None:
        """Connect to whichever server serves; resume if there is something to resume."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for base in self.servers:
                try:
                    client = Client.open(base + self.path, cookie=self.cookie)
                except (OSError, TimeoutError, InvalidHandshake):
                    continue
                try:
                    first = client.recv(timeout=0.3)
                except TimeoutError:
                    first = None
                except ConnectionClosed:
                    continue
                if first is not None and first.get("type") == "not-primary":
                    client.close()
                    continue
                self.client, self.connected_to = client, base
                if first is not None:
                    self._note(first)
                try:
                    return self._resume()
                except ConnectionClosed:
                    continue  # refused after all (a not-primary that came late)
            time.sleep(0.2)
        raise AssertionError(f"no server of {self.servers} served within {timeout}s")

    def _resume(self) -> dict[str, Any] | None:
        if self.resume_frame is None:
            return None
        frame = dict(self.resume_frame)
        if frame.get("session_id"):
            frame["last_seq"] = self.last_seq(frame["session_id"])
        else:
            frame["sessions"] = {sid: self.last_seq(sid) for sid in self.seen}
        self.client.send(**frame)
        resumed = self.until(type="resumed")
        for frame in list(self.unacked.values()):
            self.client.send(**frame)
        return resumed

    def last_seq(self, session_id: str) -> int:
        return max(self.seen.get(session_id, {0: None}))

    def _note(self, frame: dict[str, Any]) -> None:
        if "seq" in frame and "session_id" in frame:
            self.seen.setdefault(frame["session_id"], {})[frame["seq"]] = frame
            if frame.get("type") == "message":
                self.unacked.pop(frame.get("client_id"), None)

    def recv(self, timeout: float = 5) -> dict[str, Any]:
        frame = self.client.recv(timeout=timeout)
        self._note(frame)
        return frame

    def until(self, timeout: float = 5, **match: Any) -> dict[str, Any]:
        return receive_until(self.recv, timeout, match, self.client.frames)

    def keep_up(self) -> None:
        """Read what has come; if the server closed the socket (a not-primary, a
        switchover), reconnect at once, as a page does."""
        try:
            while True:
                self.recv(timeout=0)
        except TimeoutError:
            return
        except ConnectionClosed:
            self.connect()

    def send(self, **frame: Any) -> None:
        self.client.send(**frame)

    def say(self, text: str, session_id: str | None = None) -> str:
        """Send a message; it stays unacknowledged until its own copy comes back."""
        frame = {"type": "message", "text": text, "client_id": new_client_id()}
        if session_id:
            frame["session_id"] = session_id
        self.unacked[frame["client_id"]] = frame
        try:
            self.client.send(**frame)
        except ConnectionClosed:
            pass  # the socket is gone: re-sent after the reconnect
        return frame["client_id"]

    def drain_until_acked(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.unacked:
            if time.monotonic() > deadline:
                raise AssertionError(f"never acknowledged: {list(self.unacked.values())}")
            self.recv(timeout=deadline - time.monotonic())

    def sees(self, session_id: str, text: str, timeout: float = 10) -> None:
        """Wait until a message with ``text`` is among the session's events."""
        deadline = time.monotonic() + timeout
        while not any(e.get("text") == text for e in self.seen.get(session_id, {}).values()):
            if time.monotonic() > deadline:
                raise AssertionError(f"never saw {text!r}")
            self.recv(timeout=deadline - time.monotonic())

    def events(self, session_id: str) -> list[dict[str, Any]]:
        by_seq = self.seen.get(session_id, {})
        return [by_seq[seq] for seq in sorted(by_seq)]

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


@dataclass
class WorkerProcess:
    """One ``celery -A chatsite worker`` child process, in a process group of its own."""

    env: dict[str, str]
    log_path: Path
    concurrency: int
    process: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "chatsite", "worker", "--loglevel", "INFO",
                 "--concurrency", str(self.concurrency), "--hostname", f"test-{uuid.uuid4().hex[:6]}@%h",
                 "--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_for(lambda: self._alive() and " ready." in self.log(), 30, "the celery worker to be ready")
        return self

    def _alive(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the worker exited with {self.process.returncode}:\n{self.log()}")
        return True

    def kill(self) -> None:
        """Kill it and its pool at once: a warm shutdown would hand its pending
        retries back to the queue, where the next test's worker would find them."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def customer_starts(servers: list[str], nickname: str = "Carol") -> tuple[Participant, str]:
    """A customer that started a chat through the pair and resumes it after a
    failover, as the page does: (the Participant, the session id)."""
    customer = Participant(servers, "/ws/chat/")
    customer.connect()
    customer.send(type="start", nickname=nickname)
    started = customer.until(type="started")
    customer.resume_frame = {"type": "resume", "session_id": started["session_id"], "token": started["token"]}
    return customer, started["session_id"]


def ready_agent(servers: list[str], cookie: str) -> Participant:
    """An agent connected to the pair and ready, that resumes its chats after a failover."""
    agent = Participant(servers, "/ws/agent/", cookie=cookie)
    agent.connect()
    agent.send(type="ready")
    agent.resume_frame = {"type": "resume"}
    return agent
