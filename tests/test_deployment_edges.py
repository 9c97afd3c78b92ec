"""What a deployment shows the world (issue 9): which pages may use the chat,
the secret key a server accepts, the addresses it gives out, a fresh database,
and paths that name no file."""
from __future__ import annotations

import http.client
import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from django.core.exceptions import ValidationError
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from chatsite.env import DEV_SECRET_KEY, make_secret_key, secret_key
from ha.management.commands.runstack import give_the_stack_a_key
from ha.models import Application, validate_public_url

from .conftest import REDIS_PREFIX
from .harness import ROOT, Client, ServerProcess, child_env, database_url, free_port, wait_for


def starts_a_chat(ws_url: str, origin: str | None) -> bool:
    """Open a customer socket from a page of ``origin`` and start a chat: True when
    the server let it in, False when it refused the handshake with a 403."""
    try:
        with connect(f"{ws_url}/ws/chat/", origin=origin, open_timeout=5) as ws:
            ws.send(json.dumps({"type": "start", "nickname": "Carol"}))
            return json.loads(ws.recv(timeout=5))["type"] == "started"
    except InvalidStatus as refused:
        assert refused.response.status_code == 403
        return False


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def get(url: str, path: str, origin: str | None = None) -> Answer:
    """GET ``path`` exactly as written (no client-side clean-up of ``..`` or %00)."""
    address = urlsplit(url)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=5)
    try:
        conn.request("GET", path, headers={"Origin": origin} if origin else {})
        response = conn.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        conn.close()


@pytest.fixture
def pair(make_application, start_server):
    """A serving primary and its backup, with public URLs when given; the backup
    runs when ``backup_runs`` (the servers), else it is only configured (its row)."""

    def start(backup_runs: bool = True, primary_url: str = "",
              backup_url: str = "") -> tuple[ServerProcess, ServerProcess | Application]:
        name = f"pair-{uuid.uuid4().hex[:6]}"
        primary_app = make_application(f"{name}-a", pair=name, role="primary")
        backup_app = make_application(f"{name}-b", pair=name, role="backup")
        Application.objects.filter(pk=primary_app.pk).update(public_url=primary_url)
        Application.objects.filter(pk=backup_app.pk).update(public_url=backup_url)
        backup_app.refresh_from_db()
        primary = start_server(primary_app)
        if not backup_runs:
            return primary, backup_app
        backup = start_server(backup_app, serving=False)
        wait_for(lambda: topology(backup)["self"]["role"] == "backup", 10, "the backup to be backup")
        return primary, backup

    return start


def topology(server: ServerProcess) -> dict:
    return json.loads(get(server.http, "/api/ha/topology").body)


# -- which pages may use the chat ---------------------------------------------


def test_a_page_on_another_port_or_scheme_of_the_same_host_is_refused(server):
    """Only the host was compared: any other service on the machine could have
    served a page that used an agent's cookie."""
    assert not starts_a_chat(server.ws, f"http://127.0.0.1:{free_port()}")
    assert not starts_a_chat(server.ws, "http://127.0.0.1")
    assert not starts_a_chat(server.ws, f"https://127.0.0.1:{server.port}")
    assert not starts_a_chat(server.ws, "null")  # a sandboxed frame, a file
    assert starts_a_chat(server.ws, f"http://127.0.0.1:{server.port}")


def test_the_pages_of_both_members_may_open_a_socket_under_any_name_of_the_server(pair):
    """A page of the backup still open after a failover reconnects to the new primary."""
    primary, backup = pair(backup_runs=False)
    assert starts_a_chat(primary.ws, primary.http)
    assert starts_a_chat(primary.ws, f"http://localhost:{primary.port}")  # a name of ALLOWED_HOSTS
    assert starts_a_chat(primary.ws, backup.http_url)
    assert starts_a_chat(primary.ws, None)  # no browser, no Origin: nothing to protect


def test_a_front_door_named_in_chat_allowed_origins_may_open_a_socket(make_application, start_server):
    server = start_server(make_application(),
                          CHAT_ALLOWED_ORIGINS="https://chat.example.com, http://127.0.0.1:8000")
    assert starts_a_chat(server.ws, "https://chat.example.com")
    assert starts_a_chat(server.ws, "https://chat.example.com:443")
    assert starts_a_chat(server.ws, "http://127.0.0.1:8000")
    assert not starts_a_chat(server.ws, "https://chat.example.com:8443")
    assert not starts_a_chat(server.ws, "http://chat.example.com")


def test_the_topology_is_readable_across_origins_by_the_pair_s_own_pages_only(pair):
    """No ``Access-Control-Allow-Origin: *``: a page elsewhere cannot read which
    member serves; the other member's page can, to fail over."""
    primary, backup = pair(backup_runs=False)
    assert get(primary.http, "/api/ha/topology").headers["Access-Control-Allow-Origin"] is None
    for stranger in ("http://evil.example", f"http://127.0.0.1:{free_port()}"):
        answer = get(primary.http, "/api/ha/topology", origin=stranger)
        assert answer.status == 200 and answer.headers["Access-Control-Allow-Origin"] is None
    answer = get(primary.http, "/api/ha/topology", origin=backup.http_url)
    assert answer.headers["Access-Control-Allow-Origin"] == backup.http_url
    assert "Origin" in answer.headers["Vary"]


# -- the addresses given out ----------------------------------------------------


def test_members_behind_tls_are_given_out_as_https_and_wss(pair):
    """The topology, a backup's not-primary hint and the origin check all use the
    members' public URLs."""
    primary, backup = pair(primary_url="https://chat-a.example.com", backup_url="https://chat-b.example.com:8443/")
    shape = topology(backup)
    assert shape["primary"] == {"name": primary.name, "http": "https://chat-a.example.com",
                                "ws": "wss://chat-a.example.com"}
    assert shape["backup"] == {"name": backup.name, "http": "https://chat-b.example.com:8443",
                               "ws": "wss://chat-b.example.com:8443"}
    assert shape["self"] == {"name": backup.name, "role": "backup"}

    refused = Client.open(f"{backup.ws}/ws/chat/")
    assert refused.recv() == {"type": "not-primary", "primary": "wss://chat-a.example.com"}
    refused.close()
    assert starts_a_chat(primary.ws, "https://chat-a.example.com")
    assert starts_a_chat(primary.ws, "https://chat-b.example.com:8443")


def test_an_application_s_urls_follow_its_public_url():
    plain = Application(name="a", pair="p", host="10.0.0.5", port=8001)
    assert (plain.http_url, plain.ws_url) == ("http://10.0.0.5:8001", "ws://10.0.0.5:8001")
    tls = Application(name="a", pair="p", host="10.0.0.5", port=8001, public_url="HTTPS://chat.example.com/")
    assert (tls.http_url, tls.ws_url) == ("https://chat.example.com", "wss://chat.example.com")


@pytest.mark.parametrize("url", ["chat.example.com", "ftp://chat.example.com", "https://chat.example.com/chat",
                                 "https://me@chat.example.com", "https://chat.example.com:99999", "https://"])
def test_a_public_url_is_an_origin_or_refused(url):
    with pytest.raises(ValidationError, match="is not an origin"):
        validate_public_url(url)
    validate_public_url("https://chat.example.com:8443/")  # a trailing slash is fine


# -- the secret key ---------------------------------------------------------------


def test_a_server_refuses_to_start_with_the_repository_secret_key(make_application, redis_url):
    """With DEBUG off, the fallback key (anyone can read it here) would let anyone
    sign a session cookie: runchatserver and a daphne of our own both refuse."""
    app = make_application()
    env = {**child_env(redis_url, REDIS_PREFIX), "SECRET_KEY": DEV_SECRET_KEY, "DEBUG": "0"}
    commands = [
        [sys.executable, "manage.py", "runchatserver", app.name],
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(app.port), "chatsite.asgi:application"],
    ]
    for command in commands:
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode != 0
        assert "ha.E001" in result.stdout + result.stderr


def test_make_run_s_key_is_made_once_and_readable_by_its_owner_only(tmp_path: Path, monkeypatch):
    key_file = tmp_path / "var" / "secret_key"
    key = make_secret_key(key_file)
    assert len(key) >= 50 and key != DEV_SECRET_KEY
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert make_secret_key(key_file) == key
    assert os.listdir(key_file.parent) == ["secret_key"]  # no draft left beside it

    monkeypatch.delenv("SECRET_KEY")
    assert secret_key(key_file) == key  # a process started by hand joins make run's stack
    assert secret_key(tmp_path / "none") == DEV_SECRET_KEY
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    assert secret_key(key_file) == "from-the-environment"


def test_make_run_gives_every_process_it_starts_its_key(tmp_path: Path, monkeypatch, settings):
    monkeypatch.delenv("SECRET_KEY")
    settings.SECRET_KEY_FILE = tmp_path / "var" / "secret_key"
    key_file = give_the_stack_a_key()
    assert key_file == settings.SECRET_KEY_FILE
    assert os.environ["SECRET_KEY"] == settings.SECRET_KEY == key_file.read_text().strip()
    child = subprocess.run([sys.executable, "-c", "import os; print(os.environ['SECRET_KEY'])"],
                           capture_output=True, text=True, check=True)
    assert child.stdout.strip() == settings.SECRET_KEY


# -- a fresh database -----------------------------------------------------------------


@contextmanager
def empty_database(tmp_path: Path) -> Iterator[str]:
    """The URL of a database of its own with no table, dropped afterwards."""
    url = database_url()
    if url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    name = f"empty_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlsplit(url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrate_runs_on_an_empty_database(django_db_setup, tmp_path: Path):
    """The pair check (ha.W001) read tables that migrate was about to make."""
    with empty_database(tmp_path) as url:
        env = {**os.environ, "DATABASE_URL": url}
        for command in (["migrate"], ["check", "--database", "default"]):
            result = subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env,
                                    capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stdout + result.stderr
            assert "Traceback" not in result.stderr
            if command == ["migrate"]:
                assert "Applying ha.0001_initial... OK" in result.stdout


# -- paths that name no file ----------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/static/../chatsite/settings.py",
    "/static/%2e%2e/chatsite/settings.py",
    "/static/..%2f..%2fchatsite%2fsettings.py",
    "/static/chat/../../../etc/passwd",
    "/static/chat/%00",
    "/static/chat/%00.js",
    "/static/%ff%fe",
    "/static//etc/passwd",
])
def test_a_static_path_out_of_the_static_files_is_not_found(server, path):
    answer = get(server.http, path)
    assert answer.status in (400, 404), (answer.status, answer.body[:300])
    assert b"Traceback" not in answer.body and b"SECRET_KEY" not in answer.body


def test_the_static_files_are_still_served(server):
    answer = get(server.http, "/static/chat/connection.js")
    assert answer.status == 200 and b"topology" in answer.body
