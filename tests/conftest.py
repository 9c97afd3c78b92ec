"""Fixtures that start the real thing: Redis, chat server processes, agents.

Every test run writes its Redis keys under its own prefix and its servers
listen on free ports, so the suite runs beside a live ``make run``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.test import Client as HttpClient

from chatsite import devredis
from chatsite.env import DEV_SECRET_KEY
from ha.models import Application, Option

from .harness import ARTIFACTS, ROOT, Client, ServerProcess, WorkerProcess, child_env, free_port

REDIS_PREFIX = f"test-{uuid.uuid4().hex[:8]}"
# Agents' password: one the password validators take (createagent refuses a weak one).
AGENT_PASSWORD = "on-call-desk-7319"

# Servers refuse the repository's fallback SECRET_KEY (ha.E001). A run without a
# key of its own makes one, for this process (which logs agents in) and, through
# the environment, every process it starts.
if settings.SECRET_KEY == DEV_SECRET_KEY:
    settings.SECRET_KEY = f"test-{uuid.uuid4().hex}{uuid.uuid4().hex}"
os.environ["SECRET_KEY"] = settings.SECRET_KEY


@pytest.fixture(scope="session")
def django_db_modify_db_settings() -> None:
    """A test database of this run's own, so that runs side by side never meet."""
    db = settings.DATABASES["default"]
    suffix = f"_{os.getpid()}"
    if db["ENGINE"].endswith("sqlite3"):
        db["TEST"]["NAME"] = str(settings.VAR_DIR / f"test-db{suffix}.sqlite3")
    else:
        db.setdefault("TEST", {})["NAME"] = f"test_{db['NAME']}{suffix}"


@pytest.fixture(scope="session", autouse=True)
def no_connection_left(django_db_setup, django_db_blocker) -> Iterator[None]:
    """Let the test database be dropped: a server killed a moment ago may still
    hold a connection that PostgreSQL has not reaped yet."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


def pytest_sessionstart(session: pytest.Session) -> None:
    """Where nothing answers at REDIS_URL, start the embedded Redis once, in the
    process that runs the session (with pytest-xdist, the controller: its workers
    then find it answering, instead of racing to start one each)."""
    if not hasattr(session.config, "workerinput"):
        session.config.embedded_redis = devredis.start_embedded(settings.REDIS_URL, ROOT / "var" / "redis-test")


def pytest_sessionfinish(session: pytest.Session) -> None:
    embedded = getattr(session.config, "embedded_redis", None)
    if embedded is not None:
        embedded.terminate()
        embedded.wait(10)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = settings.REDIS_URL
    settings.REDIS_PREFIX = REDIS_PREFIX
    yield url
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(f"{REDIS_PREFIX}:*", count=1000):
        client.delete(key)


@pytest.fixture
def redis_client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, decode_responses=True)


@pytest.fixture
def make_application(transactional_db) -> Callable[..., Application]:
    """An application on a free port, in a pair of its own unless told."""

    def make(name: str | None = None, *, pair: str | None = None, role: str = "primary",
             **options: str) -> Application:
        name = name or f"app-{uuid.uuid4().hex[:6]}"
        port = free_port()
        # A port is free until someone listens on it: one given to an application
        # that has not started yet may come back for the next one.
        while Application.objects.filter(host="127.0.0.1", port=port).exists():
            port = free_port()
        application = Application.objects.create(
            name=name, pair=pair or f"pair-{uuid.uuid4().hex[:6]}", configured_role=role,
            host="127.0.0.1", port=port,
        )
        for option, value in options.items():
            Option.objects.create(application=application, name=option.replace("_", "-"), value=value)
        return application

    return make


@pytest.fixture
def start_server(redis_url: str, request) -> Iterator[Callable[[Application], ServerProcess]]:
    """Start ``runchatserver`` for an application; every one is killed after the test."""
    started: list[ServerProcess] = []

    def start(application: Application, *, serving: bool = True, **env: str) -> ServerProcess:
        server = ServerProcess(
            application.name, application.port, {**child_env(redis_url, REDIS_PREFIX), **env},
            ARTIFACTS / "logs" / f"{request.node.name}-{application.name}.log",
        )
        started.append(server)
        server.start()
        if serving:
            server.wait_serving()
        return server

    yield start
    for server in started:
        server.kill()


@pytest.fixture
def server(make_application, start_server) -> ServerProcess:
    """One serving chat server instance, alone in its pair."""
    return start_server(make_application())


@pytest.fixture
def agent_cookie(transactional_db) -> Callable[[str], str]:
    """Log an agent in (made with createagent) and give its session cookie."""

    def login(username: str) -> str:
        call_command("createagent", username, password=AGENT_PASSWORD, name=username.title())
        http = HttpClient()
        assert http.login(username=username, password=AGENT_PASSWORD)
        return http.cookies["sessionid"].value

    return login


@pytest.fixture
def supervisor_cookie(transactional_db) -> Callable[[str], str]:
    """Log a supervisor in (createagent --supervisor, issue 13) and give its session cookie."""

    def login(username: str) -> str:
        call_command("createagent", username, password=AGENT_PASSWORD, name=username.title(), supervisor=True)
        http = HttpClient()
        assert http.login(username=username, password=AGENT_PASSWORD)
        return http.cookies["sessionid"].value

    return login


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    opened: list[Client] = []
    yield opened
    for client in opened:
        client.close()


@pytest.fixture
def customer(server: ServerProcess, clients: list[Client]) -> Callable[..., Client]:
    """Open a customer socket and start a chat with the given nickname."""

    def open_customer(nickname: str, subject: str = "") -> Client:
        client = Client.open(f"{server.ws}/ws/chat/")
        clients.append(client)
        client.send(type="start", nickname=nickname, subject=subject)
        client.started = client.until(type="started")
        return client

    return open_customer


@pytest.fixture
def chat(customer, agent):
    """Carol chatting with alice, on the one ``server``: (carol, alice)."""
    alice = agent("alice")
    carol = customer("Carol")
    alice.until(type="assigned")
    return carol, alice


def log_length(redis_client, session_id: str) -> int:
    """How many events the live log holds of the session."""
    from chatsite import rediskeys

    return redis_client.llen(rediskeys.session_log(session_id))


@pytest.fixture
def agent(server: ServerProcess, clients: list[Client], agent_cookie) -> Callable[..., Client]:
    """Open an agent socket, logged in, and make it available."""

    def open_agent(username: str, ready: bool = True) -> Client:
        client = Client.open(f"{server.ws}/ws/agent/", cookie=agent_cookie(username))
        clients.append(client)
        if ready:
            client.send(type="ready")
        return client

    return open_agent


@pytest.fixture
def start_worker(redis_url: str, transactional_db, request) -> Iterator[Callable[..., WorkerProcess]]:
    """Start a worker with extra environment (a faulty store); killed after the test."""
    started: list[WorkerProcess] = []

    def start(concurrency: int = 2, **env: str) -> WorkerProcess:
        worker = WorkerProcess(
            {**child_env(redis_url, REDIS_PREFIX), **env},
            ARTIFACTS / "logs" / f"{request.node.name}-worker-{len(started)}.log",
            concurrency,
        )
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.kill()


@pytest.fixture
def worker(start_worker) -> WorkerProcess:
    """A worker that saves to the real store."""
    return start_worker()


def run_switchover(pair_name: str, redis_url: str) -> subprocess.CompletedProcess:
    """``manage.py ha_switchover PAIR`` as an operator runs it, against the tests' Redis."""
    return subprocess.run(
        [sys.executable, "manage.py", "ha_switchover", pair_name], cwd=ROOT,
        env=child_env(redis_url, REDIS_PREFIX), capture_output=True, text=True, timeout=30,
    )
