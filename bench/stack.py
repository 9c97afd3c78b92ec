"""What a bench run stands on: Django set up, its own rows, its own server.

A run leaves nothing behind: its application row, agent users and their
sessions are deleted at the end, and every Redis key it made sits under a
REDIS_PREFIX of its own (``bench-<random>``), deleted at the end too, so a
run can share the database and Redis of a live ``make run``.

The server side is one ``ServerProcess`` per chat server instance: one for
the normal mode, the two members of a pair for the failover mode, which kills
the primary mid-run.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.error import HTTPError, URLError

if TYPE_CHECKING:
    from chatsite.sentinelstack import SentinelSetup
from urllib.parse import urlparse
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / "var" / "bench"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

# A daphne process with Django loaded answers /healthz in 1-3 s on a laptop;
# ten times that means it is stuck, and the bench says so instead of hanging.
START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 10
# How often a bench polls a member's /readyz after a kill or a stop: the resolution of
# "served after".
READY_POLL_SECONDS = 0.02
# What the failover mode sets on both members of its pair (the seed's HA
# recommendation for restoration): a backup that takes over restores the open
# chats, so that they go on. Every other option keeps the project's default,
# the HA timings included: the failover figures are those of a default pair.
PAIR_OPTIONS = {"session-restoration-mode": "simple"}
# py-spy's samples per second: 250 shows a 4 ms Redis round trip, and
# --nonblocking sampling at that rate costs the server a few per cent.
PROFILE_RATE_HZ = 250

logger = logging.getLogger("bench")


def start_sentinel() -> SentinelSetup:
    """A local Redis Sentinel setup on free ports (chatsite.sentinelstack), and this
    process's environment pointed at it, so that the bench and every server it
    starts find Redis through the sentinels. Call before setup_django."""
    from chatsite import sentinelstack

    ports = sorted({free_port() for _ in range(5)})
    while len(ports) < 5:
        ports = sorted({*ports, free_port()})
    setup = sentinelstack.start(LOG_DIR / f"sentinel-{uuid.uuid4().hex[:6]}", master_name="bench",
                                redis_ports=(ports[0], ports[1]), sentinel_ports=tuple(ports[2:]),
                                down_after_ms=1000, failover_timeout_ms=2000)
    os.environ.update(setup.env())
    logger.info("a Redis Sentinel setup: master :%d, replica :%d, sentinels %s", ports[0], ports[1], setup.sentinels)
    return setup


def setup_django() -> None:
    """Set up Django in this process (the bench itself is no Django command)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    # The servers refuse the repository's fallback key (ha.E001): a run with no
    # SECRET_KEY gives this process and the servers it starts a key of its own.
    os.environ.setdefault("SECRET_KEY", f"bench-{uuid.uuid4().hex}{uuid.uuid4().hex}")
    import django

    django.setup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_status(url: str, timeout: float = 2) -> int:
    """The status of GET ``url``; 0 when nothing answers."""
    try:
        with urlopen(url, timeout=timeout) as response:
            return response.status
    except HTTPError as error:
        return error.code
    except (URLError, ConnectionError, TimeoutError):
        return 0


async def served_after(server: ServerProcess, since: float, timeout: float) -> float | None:
    """Seconds from ``since`` (``time.perf_counter``) to ``server``'s first /readyz 200,
    polled every READY_POLL_SECONDS; None if not within ``timeout``."""
    url = f"{server.http}/readyz"
    while time.perf_counter() - since < timeout:
        if await asyncio.to_thread(http_status, url, 0.5) == 200:
            return time.perf_counter() - since
        await asyncio.sleep(READY_POLL_SECONDS)
    return None


def topology(http: str, timeout: float = 2) -> dict[str, Any]:
    """GET ``http``/api/ha/topology: how a client given one address learns the pair."""
    with urlopen(f"{http}/api/ha/topology", timeout=timeout) as response:
        return json.loads(response.read())


@dataclass(frozen=True)
class Usage:
    """A process as /proc shows it at one moment: what the scale modes report of the
    server. ``cpu_seconds``: user + system time used so far (over an interval, the
    share of one core it used); ``rss_bytes``: resident memory (VmRSS)."""

    cpu_seconds: float
    rss_bytes: int
    threads: int
    fds: int


def usage(pid: int) -> Usage:
    """``pid``'s CPU time, RSS, threads and open file descriptors (Linux /proc)."""
    proc = Path("/proc") / str(pid)
    # The command name in parentheses may hold spaces: the fields are after its last ")".
    fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu_seconds = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime: fields 14 and 15 of stat(5)
    status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines() if ":" in line)
    return Usage(
        cpu_seconds=cpu_seconds,
        rss_bytes=int(status["VmRSS"].split()[0]) * 1024,
        threads=int(status["Threads"]),
        fds=len(os.listdir(proc / "fd")),
    )


def open_files_limit(pid: int) -> int:
    """``pid``'s soft RLIMIT_NOFILE ("Max open files" in /proc/<pid>/limits)."""
    for line in (Path("/proc") / str(pid) / "limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft = line.split()[3]
            return sys.maxsize if soft == "unlimited" else int(soft)
    raise RuntimeError(f"no open files limit in /proc/{pid}/limits")


@dataclass
class ServerProcess:
    """One ``manage.py runchatserver NAME`` child, its output in a log file.

    ``stop`` removes the log unless told to keep it or the process did not
    exit cleanly: it is kept when there is something to read in it.
    """

    name: str
    port: int
    env: dict[str, str]
    log_path: Path = field(init=False)
    process: subprocess.Popen[bytes] | None = None
    # The exit status a kill of ours leads to, so that stop() does not take it for a crash.
    expected_returncode: int | None = None

    def __post_init__(self) -> None:
        self.log_path = LOG_DIR / f"{self.name}.log"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the process; again after a kill (the failover mode restarts the member it
        killed): a restart appends to the log, so that it holds every life of the member."""
        command = [sys.executable, "manage.py", "runchatserver", self.name]
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        restart = self.process is not None
        if restart and self.process.poll() is None:
            raise RuntimeError(f"{self.name} (pid {self.process.pid}) is still running")
        with self.log_path.open("ab" if restart else "wb") as log:
            if restart:
                log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} bench: restarting {self.name} "
                          f"(the last life exited with {self.process.returncode}) ---\n".encode())
                log.flush()
            # A process group of its own: the terminal's Ctrl-C reaches only the
            # bench, which stops the server after it, and a kill reaches all of it.
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.expected_returncode = None
        logger.info("%s %s (pid %d) on port %d", "restarted" if restart else "started", self.name,
                    self.process.pid, self.port)

    def wait_serving(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Until /readyz answers 200 (the instance is the serving primary)."""
        self._wait(lambda: http_status(f"{self.http}/readyz") == 200, "serve", timeout)

    def wait_backup(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Until the instance says it is the backup of its pair (its topology's role)."""

        def is_backup() -> bool:
            try:
                return topology(self.http)["self"]["role"] == "backup"
            except (OSError, ValueError, KeyError):
                return False

        self._wait(is_backup, "become backup", timeout)

    def _wait(self, done: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not {what} within {timeout} s; see {self.log_path}")
            time.sleep(0.1)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (kill -9 by default: what the failover mode does to the primary)."""
        if self.process is not None and self.process.poll() is None:
            if sig in (signal.SIGKILL, signal.SIGTERM):
                self.expected_returncode = -sig
            os.killpg(self.process.pid, sig)

    @contextmanager
    def profiled(self, output: Path) -> Iterator[None]:
        """Sample the server with py-spy while the block runs; a speedscope profile in ``output``."""
        assert self.process is not None
        spy = subprocess.Popen(
            [_py_spy(), "record", "--pid", str(self.process.pid), "--rate", str(PROFILE_RATE_HZ),
             "--nonblocking", "--format", "speedscope", "--output", str(output)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            yield
        finally:
            spy.send_signal(signal.SIGINT)  # py-spy writes the profile on SIGINT
            spy.wait(STOP_TIMEOUT_SECONDS)
            logger.info("%s: profile in %s (open it at https://www.speedscope.app)", self.name, output)

    def stop(self, keep_log: bool = False) -> None:
        """SIGINT (daphne finishes cleanly on it), SIGKILL if that hangs."""
        if self.process is None:
            return
        self.kill(signal.SIGINT)
        try:
            self.process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop on SIGINT; killing it", self.name)
            self.kill()
            self.process.wait()
        if self.process.returncode not in (0, -signal.SIGINT, self.expected_returncode):
            logger.warning("%s exited with %d; its log: %s", self.name, self.process.returncode, self.log_path)
        elif keep_log:
            logger.info("%s's log: %s", self.name, self.log_path)
        else:
            self.log_path.unlink(missing_ok=True)


def _py_spy() -> str:
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError("--profile needs py-spy (pip install py-spy)")
    return found


@dataclass
class Target:
    """Where the clients connect (the primary's address only, as a client is
    given), and as whom the agents log in. ``servers`` are the bench's own
    processes, the primary first; empty with --url."""

    ws: str
    agent_cookies: list[str]
    cookie_name: str
    run_id: str
    servers: list[ServerProcess]

    @property
    def server(self) -> ServerProcess | None:
        return self.servers[0] if self.servers else None

    @property
    def http(self) -> str:
        return self.ws.replace("ws://", "http://", 1)


class BenchStack:
    """A context manager that makes a run's rows and server, and removes them after.

    With ``url`` it uses that running instance (its database is this
    process's DATABASE_URL) and makes only the agents. With ``pair`` it starts
    the two members of a pair (primary, then backup) instead of one instance.
    The servers' logs are kept when the block raises, ``keep_logs`` was set, or the
    environment has BENCH_KEEP_LOGS=1 (to read a run that passed).
    """

    def __init__(self, *, chats: int, agents: int, url: str | None = None, pair: bool = False,
                 options: dict[str, str] | None = None) -> None:
        if url is not None and pair:
            raise ValueError("a pair is the bench's own: no url with pair")
        self.chats = chats
        self.agents = agents
        self.url = url
        self.pair = pair
        self.options = options or {}  # more options of the pair's rows
        self.run_id = f"bench-{uuid.uuid4().hex[:8]}"
        self.redis_prefix = self.run_id
        self.servers: list[ServerProcess] = []
        self._embedded_redis: subprocess.Popen[bytes] | None = None
        self._session_keys: list[str] = []
        self.keep_logs = os.environ.get("BENCH_KEEP_LOGS") == "1"

    def __enter__(self) -> Self:
        from django.conf import settings
        from django.core.management import call_command

        from chatsite import devredis

        try:
            if self.url is None:
                self._embedded_redis = devredis.start_embedded(settings.REDIS_URL, LOG_DIR / "redis")
            call_command("migrate", verbosity=0)
            cookies = self._make_agents()
            if self.url is not None:
                ws = local_ws(self.url)
            elif self.pair:
                ws = self._start_pair()
            else:
                ws = self._start_server()
        except BaseException as error:
            self.__exit__(type(error), error, error.__traceback__)
            raise
        self.target = Target(ws, cookies, settings.SESSION_COOKIE_NAME, self.run_id, self.servers)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        from django.contrib.auth import get_user_model

        from ha.models import Application
        from transcripts.models import Transcript

        for server in self.servers:
            server.stop(keep_log=self.keep_logs or os.environ.get("BENCH_KEEP_LOGS") == "1" or error is not None)
        if self.servers:
            self._delete_redis_keys()
        store = import_module(_session_engine()).SessionStore()
        for key in self._session_keys:
            store.delete(key)
        get_user_model().objects.filter(username__startswith=f"{self.run_id}-").delete()
        Application.objects.filter(pair=self.run_id).delete()
        # None unless a worker of this REDIS_PREFIX ran beside the bench; then they are ours.
        Transcript.objects.filter(pair=self.run_id).delete()
        if self._embedded_redis is not None:
            self._embedded_redis.terminate()
            self._embedded_redis.wait(STOP_TIMEOUT_SECONDS)

    def _make_agents(self) -> list[str]:
        """Agent users logged in the way django.contrib.auth.login does it, minus the
        password hashing (200 PBKDF2 hashes would cost the bench a minute)."""
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
        from django.contrib.auth.hashers import make_password
        from django.contrib.auth.models import Group

        from chat.management.commands.createagent import AGENTS_GROUP

        User = get_user_model()
        User.objects.bulk_create([
            User(username=f"{self.run_id}-agent-{n:04d}", first_name=f"Agent {n}", password=make_password(None))
            for n in range(self.agents)
        ])
        users = list(User.objects.filter(username__startswith=f"{self.run_id}-").order_by("username"))
        Group.objects.get_or_create(name=AGENTS_GROUP)[0].user_set.add(*users)
        SessionStore = import_module(_session_engine()).SessionStore
        for user in users:
            session = SessionStore()
            session[SESSION_KEY] = user._meta.pk.value_to_string(user)
            session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.create()
            self._session_keys.append(session.session_key)
        return list(self._session_keys)

    def _start_server(self) -> str:
        """One instance, alone in its pair, with the baseline's route."""
        server = self._server("primary", {}, {"BENCH_BASELINE": "1"})
        server.start()
        server.wait_serving()
        return server.ws

    def _start_pair(self) -> str:
        """Primary and backup of one pair, as ``make run`` starts them: the primary
        serves first, so that the backup finds it and waits."""
        primary = self._server("primary", {**PAIR_OPTIONS, **self.options}, {})
        backup = self._server("backup", {**PAIR_OPTIONS, **self.options}, {})
        primary.start()
        primary.wait_serving()
        backup.start()
        backup.wait_backup()
        return primary.ws

    def _server(self, role: str, options: dict[str, str], env: dict[str, str]) -> ServerProcess:
        """An application row of this run's pair, configured ``role``, and its process (not started).

        The server keeps the project's settings: only REDIS_PREFIX (the run's keys
        apart from anyone else's) and ``env`` are added to this environment.
        """
        from ha.models import Application, Option

        application = Application.objects.create(
            name=f"{self.run_id}-{role}", pair=self.run_id, configured_role=Application.Role(role),
            host="127.0.0.1", port=free_port(),
        )
        capacity = str(math.ceil(self.chats / self.agents))
        for name, value in {"agent-capacity": capacity, **options}.items():
            Option.objects.create(application=application, name=name, value=value)  # save() checks the value
        server = ServerProcess(application.name, application.port, {
            **os.environ, "REDIS_PREFIX": self.redis_prefix, "PYTHONUNBUFFERED": "1", **env,
        })
        self.servers.append(server)
        return server

    def _delete_redis_keys(self) -> None:

        from chatsite import redisconf

        client = redisconf.config().client()
        keys = list(client.scan_iter(f"{self.redis_prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
        logger.info("deleted %d redis keys under %s:", len(keys), self.redis_prefix)


def _session_engine() -> str:
    from django.conf import settings

    return settings.SESSION_ENGINE


def local_ws(url: str) -> str:
    """``url``'s ws:// base; the bench loads only this machine (a --url, a topology's address)."""
    parsed = urlparse(url)
    if parsed.hostname not in LOCAL_HOSTS or parsed.port is None:
        raise ValueError(f"the bench connects to ws://127.0.0.1:PORT only (this machine), not {url!r}")
    return f"ws://{parsed.hostname}:{parsed.port}"
