"""The HA role of one instance as a plain state machine: no I/O.

The asyncio driver (ha.runtime) reports what happened to the pair's lease;
the machine answers with what to do. An instance serves only while it holds
the lease at the pair's current epoch.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    STARTING = "starting"
    BACKUP = "backup"
    PRIMARY = "primary"


class Action(StrEnum):
    SERVE = "serve"  # restore the open sessions, then accept clients
    STOP_SERVING = "stop-serving"  # close every socket with not-primary


@dataclass
class RoleMachine:
    name: str
    pair: str
    configured_primary: bool
    role: Role = Role.STARTING
    epoch: int = 0

    @property
    def serving(self) -> bool:
        return self.role is Role.PRIMARY

    def may_claim(self, seconds_since_start: float, startup_grace_s: float) -> bool:
        """Whether to try for a free lease: a configured backup gives its primary
        a head start when the pair starts up, so the configured roles win a cold start."""
        return self.configured_primary or self.role is Role.BACKUP and seconds_since_start >= startup_grace_s

    def lease_won(self, epoch: int) -> list[Action]:
        self.role, self.epoch = Role.PRIMARY, epoch
        return [Action.SERVE]

    def lease_held_by_other(self) -> list[Action]:
        """Someone else serves the pair (at start: a live primary; later: a newer epoch)."""
        was_serving = self.serving
        self.role = Role.BACKUP
        return [Action.STOP_SERVING] if was_serving else []

    def lease_free(self) -> list[Action]:
        """Nobody holds the lease and this instance may not claim it yet."""
        if self.role is Role.STARTING:
            self.role = Role.BACKUP
        return []

    def lease_lost(self) -> list[Action]:
        """The renewal failed: the lease lapsed or a newer epoch exists. Stop at once."""
        return self.lease_held_by_other()
