"""The HA role of one instance as a plain state machine: no I/O.

The asyncio driver (ha.runtime) reports what happened to the pair's lease;
the machine answers with what to do. An instance serves only while it is
primary, which it is only while it holds the lease at the pair's epoch.

    STARTING --lease free, may claim--> PRIMARY --renewal fails--> BACKUP
    STARTING --someone holds it-------> BACKUP  --lease lapses, claim--> PRIMARY
    PRIMARY --switchover asked--> HANDING_OVER --handed over--> BACKUP
    BACKUP --lease handed to us--> PRIMARY
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    STARTING = "starting"
    BACKUP = "backup"
    PRIMARY = "primary"
    HANDING_OVER = "handing-over"


class Action(StrEnum):
    RESTORE_AND_SERVE = "restore-and-serve"  # after a takeover: the dead primary's sessions
    RESUME_AND_SERVE = "resume-and-serve"  # after a handover: the sessions always carry on
    DRAIN = "drain"  # take no new frames, finish those in flight, tell the clients
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

    @property
    def holds_lease(self) -> bool:
        return self.role in (Role.PRIMARY, Role.HANDING_OVER)

    def may_claim(self, seconds_since_start: float, startup_grace_s: float) -> bool:
        """Whether to try for a free lease: a configured backup gives its primary
        a head start when the pair starts up, so the configured roles win a cold start."""
        if self.holds_lease:
            return False
        return self.configured_primary or seconds_since_start >= startup_grace_s

    def lease_won(self, epoch: int) -> list[Action]:
        self.role, self.epoch = Role.PRIMARY, epoch
        return [Action.RESTORE_AND_SERVE]

    def lease_handed_to_us(self, epoch: int) -> list[Action]:
        self.role, self.epoch = Role.PRIMARY, epoch
        return [Action.RESUME_AND_SERVE]

    def lease_held_by_other(self) -> list[Action]:
        """Someone else serves the pair: at start a live primary, later a newer epoch."""
        held = self.holds_lease
        self.role = Role.BACKUP
        return [Action.STOP_SERVING] if held else []

    def lease_free(self) -> list[Action]:
        """Nobody holds the lease and this instance may not claim it yet."""
        if self.role is Role.STARTING:
            self.role = Role.BACKUP
        return []

    def lease_lost(self) -> list[Action]:
        """The renewal failed: the lease lapsed or a newer epoch exists. Stop at once."""
        return self.lease_held_by_other()

    def switchover_asked(self) -> list[Action]:
        if self.role is not Role.PRIMARY:
            return []
        self.role = Role.HANDING_OVER
        return [Action.DRAIN]

    def handed_over(self) -> list[Action]:
        return self.lease_held_by_other()
