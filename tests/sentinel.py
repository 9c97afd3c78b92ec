"""A real Redis Sentinel setup for a test: a master, a replica and three
sentinels on free loopback ports, quick to fail over (issue 11)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatsite import sentinelstack

from .harness import free_port

# A master that does not answer for this long is down: a failover in the tests
# takes two or three seconds, not the half minute of Sentinel's default.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 2000


def free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


@pytest.fixture
def sentinel_redis(tmp_path: Path) -> Iterator[sentinelstack.SentinelSetup]:
    """A whole setup (every sentinel sees the master, the replica and the other
    two); every process of it is stopped after the test, killed ones included."""
    master, replica, *sentinels = free_ports(5)
    setup = sentinelstack.start(
        tmp_path / "sentinel", master_name="test-master", redis_ports=(master, replica),
        sentinel_ports=tuple(sentinels), down_after_ms=DOWN_AFTER_MS, failover_timeout_ms=FAILOVER_TIMEOUT_MS,
    )
    yield setup
    setup.stop()
    assert all(process.poll() is not None for process in setup.processes.values())
