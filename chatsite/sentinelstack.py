"""A local Redis Sentinel setup: one master, one replica, three sentinels on
loopback ports (make run-sentinel, and the tests' ``sentinel_redis`` fixture).

Each server reads a config file of its own in its own directory, written only
when it is missing: Sentinel rewrites those files on a failover (who is master,
who replicates whom), so a setup stopped after a failover starts again with the
roles it had, not with the first master's stale data.
"""
from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from . import devredis

HOST = "127.0.0.1"
MASTER_NAME = "chatha"
# make run-sentinel's ports (docs/operations.md): clear of a default Redis
# (6379) and a default Sentinel (26379) that may run on the same machine.
MASTER_PORT = 6391
REPLICA_PORT = 6392
SENTINEL_PORTS = (26391, 26392, 26393)
# Two of the three sentinels must agree that the master is down (and two must
# vote for the sentinel that leads the failover).
QUORUM = 2
# How long the master must not answer before a sentinel counts it down: short
# enough to try a failover by hand, long enough not to fail over on a GC pause.
DOWN_AFTER_MS = 2000
# A failover that stalls is tried again after twice this (Sentinel's rule).
FAILOVER_TIMEOUT_MS = 10_000
# Sentinels find each other through hello messages every 2 s and the replica
# through the master's INFO: a fresh setup is whole within a few of those.
READY_TIMEOUT_S = 30


@dataclass
class SentinelSetup:
    """The running processes of one local setup, and how to reach them."""

    workdir: Path
    master_name: str
    redis_ports: tuple[int, int]  # the first master, the first replica
    sentinel_ports: tuple[int, ...]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def sentinels(self) -> str:
        """REDIS_SENTINELS for this setup."""
        return ",".join(f"{HOST}:{port}" for port in self.sentinel_ports)

    def env(self) -> dict[str, str]:
        """The environment that makes a process of this project use the setup."""
        return {"REDIS_SENTINELS": self.sentinels, "REDIS_SENTINEL_MASTER": self.master_name, "REDIS_DB": "0"}

    def master_port(self) -> int | None:
        """The master's port as the first sentinel that answers names it."""
        for port in self.sentinel_ports:
            try:
                with _client(port) as sentinel:
                    address = sentinel.sentinel_get_master_addr_by_name(self.master_name)
            except redis.RedisError:
                continue
            if address:
                return int(address[1])
        return None

    def whole(self) -> bool:
        """Every sentinel sees the master, a replica whose link is up, and the others."""
        for port in self.sentinel_ports:
            try:
                with _client(port) as sentinel:
                    master = sentinel.sentinel_master(self.master_name)
                    replicas = sentinel.sentinel_slaves(self.master_name)
            except redis.RedisError:
                return False
            if master["num-other-sentinels"] != len(self.sentinel_ports) - 1 or master["is_sdown"]:
                return False
            if not any(r.get("master-link-status") == "ok" and not r["is_sdown"] for r in replicas):
                return False
        return True

    def wait_whole(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not self.whole():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Sentinel setup in {self.workdir} is not whole after {timeout}s")
            time.sleep(0.1)

    def kill_redis(self, port: int, sig: int = signal.SIGKILL) -> None:
        process = self.processes[f"redis-{port}"]
        process.send_signal(sig)
        process.wait(10)

    def stop(self) -> None:
        """Stop every process of the setup, sentinels first (so that they do not
        fail over the Redis servers being stopped)."""
        ordered = sorted(self.processes.items(), key=lambda item: not item[0].startswith("sentinel"))
        for _, process in ordered:
            if process.poll() is None:
                process.terminate()
        for _, process in ordered:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def local(workdir: Path) -> SentinelSetup:
    """make run-sentinel's setup in ``workdir``, not started (to ask whether it runs)."""
    return SentinelSetup(workdir.resolve(), MASTER_NAME, (MASTER_PORT, REPLICA_PORT), SENTINEL_PORTS)


def start(workdir: Path, *, master_name: str = MASTER_NAME, redis_ports: tuple[int, int] = (MASTER_PORT, REPLICA_PORT),
          sentinel_ports: tuple[int, ...] = SENTINEL_PORTS, down_after_ms: int = DOWN_AFTER_MS,
          failover_timeout_ms: int = FAILOVER_TIMEOUT_MS, quorum: int = QUORUM) -> SentinelSetup:
    """Start the setup in ``workdir`` and wait until it is whole; on any failure
    nothing it started is left running."""
    workdir = workdir.resolve()
    setup = SentinelSetup(workdir, master_name, redis_ports, tuple(sentinel_ports))
    first_master, first_replica = redis_ports
    try:
        for port in redis_ports:
            directory = workdir / f"redis-{port}"
            lines = [f"port {port}", f"bind {HOST}", f"dir {directory}", "appendonly yes",
                     "appendfsync everysec", 'save ""']
            if port == first_replica:
                lines.append(f"replicaof {HOST} {first_master}")
            conf = _config(directory / "redis.conf", lines)
            setup.processes[f"redis-{port}"] = devredis.start([str(conf)], f"redis://{HOST}:{port}/0", directory)
        for port in sentinel_ports:
            directory = workdir / f"sentinel-{port}"
            conf = _config(directory / "sentinel.conf", [
                f"port {port}", f"bind {HOST}", f"dir {directory}",
                f"sentinel monitor {master_name} {HOST} {first_master} {quorum}",
                f"sentinel down-after-milliseconds {master_name} {down_after_ms}",
                f"sentinel failover-timeout {master_name} {failover_timeout_ms}",
                f"sentinel parallel-syncs {master_name} 1",
            ])
            setup.processes[f"sentinel-{port}"] = devredis.start(
                [str(conf), "--sentinel"], f"redis://{HOST}:{port}/0", directory, "sentinel.log")
        setup.wait_whole()
    except BaseException:
        setup.stop()
        raise
    return setup


def _config(path: Path, lines: list[str]) -> Path:
    """``path``, written with ``lines`` unless it exists (Sentinel keeps it up to date)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text("".join(f"{line}\n" for line in lines))
    return path


def _client(port: int) -> redis.Redis:
    return redis.Redis(host=HOST, port=port, socket_timeout=1, socket_connect_timeout=1, decode_responses=True)
