"""The HA role of one instance as a plain state machine: no I/O, no clock of its own.

The lease keeper (ha.keeper) reports what happened to the pair's lease, with
the moment it asked Redis; the machine answers with what to do. Every rule
that decides safety lives here:

- An instance serves only while it is primary, has restored the sessions of
  its current epoch, and its lease has not run out *by its own clock*. The
  lease is counted from the moment the renewal was sent, so the instance gives
  up no later than Redis lets the key expire.
- A renewal never lets the lease outlive the serving event loop's last sign of
  life by more than one TTL (``renewal_grant``). A busy loop keeps the role,
  because the keeper renews on a thread of its own and a loop whose thread
  works counts as alive (for BUSY_LOOP_LEASES leases past its last timer at
  most); a loop stuck for longer than the lease loses it, and the backup
  takes over.
- A refused write ends the term only when the pair moved past it: a write of
  an earlier term of ours, refused after we took the pair again, does not.
- A backup takes over at once from a holder whose Redis connection is gone (a
  killed process closes its sockets), and otherwise only once the lease lapsed.
- Writes carry the epoch of the term they belong to; the live log refuses any
  other (the fence is the last word, for what clocks cannot see).

    STARTING --lease free, may claim--> PRIMARY --renewal fails / lapses--> BACKUP
    STARTING --someone holds it-------> BACKUP  --lease lapses or holder gone, claim--> PRIMARY
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


# A loop whose thread keeps working without running its timer is busy, not
# stuck, for at most this many leases (then it is a loop spinning for ever).
BUSY_LOOP_LEASES = 4


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
    # Until when the lease is ours by our own (monotonic) clock, in seconds.
    valid_until: float = 0.0
    # The epoch whose sessions are restored: serving waits for it.
    restored_epoch: int = 0
    # A planned stop is under way: never take the role again.
    leaving: bool = False

    # -- queries --------------------------------------------------------------

    @property
    def holds_lease(self) -> bool:
        return self.role in (Role.PRIMARY, Role.HANDING_OVER)

    def serving(self, now: float) -> bool:
        """Whether to take frames: the role, the sessions of this term restored,
        and a lease that has not run out by our clock."""
        return self.role is Role.PRIMARY and self.restored_epoch == self.epoch and now < self.valid_until

    def write_epoch(self, now: float) -> int | None:
        """The term a write made now belongs to, or None when this instance may not
        write at all (a restoration writes before the instance serves)."""
        return self.epoch if self.holds_lease and now < self.valid_until else None

    def renewal_grant(self, now: float, ticked_at: float, working_at: float, ttl_s: float) -> float:
        """How many seconds a renewal sent now may extend the lease by: the TTL,
        cut so that the lease ends at most one TTL after the serving loop was last
        seen alive: when it last ran its timer, or later while its thread was seen
        working, up to BUSY_LOOP_LEASES leases past that timer. 0 or less: do not
        renew."""
        alive_at = max(ticked_at, min(working_at, ticked_at + BUSY_LOOP_LEASES * ttl_s))
        return min(ttl_s, alive_at + ttl_s - now)

    def may_claim(self, seconds_since_start: float, startup_grace_s: float) -> bool:
        """Whether to try for a free lease: a configured backup gives its primary
        a head start when the pair starts up, so the configured roles win a cold start."""
        if self.holds_lease or self.leaving:
            return False
        return self.configured_primary or seconds_since_start >= startup_grace_s

    def may_take_over_from(self, holder: str | None, holder_connected: bool) -> bool:
        """Whether to take the lease from ``holder`` before it lapses: only when its
        connection to Redis is gone (a killed process), never from ourselves."""
        return (not self.holds_lease and not self.leaving and holder is not None and holder != self.name
                and not holder_connected)

    # -- events ---------------------------------------------------------------

    def lease_won(self, epoch: int, asked_at: float, granted_s: float) -> list[Action]:
        """We claimed a free lease, or took it from a dead holder, at a new epoch."""
        return self._become_primary(epoch, asked_at, granted_s, Action.RESTORE_AND_SERVE)

    def lease_handed_to_us(self, epoch: int, asked_at: float, granted_s: float) -> list[Action]:
        """A switchover gave us the lease: the sessions carry on as they are."""
        return self._become_primary(epoch, asked_at, granted_s, Action.RESUME_AND_SERVE)

    def _become_primary(self, epoch: int, asked_at: float, granted_s: float, action: Action) -> list[Action]:
        if epoch <= self.epoch:
            raise ValueError(f"epoch {epoch} is not newer than {self.epoch}: the lease script is wrong")
        self.role, self.epoch, self.valid_until = Role.PRIMARY, epoch, asked_at + granted_s
        return [action]

    def renewed(self, asked_at: float, granted_s: float) -> list[Action]:
        """Redis extended our lease; it is ours until ``asked_at + granted_s`` by our clock."""
        if self.holds_lease:
            self.valid_until = max(self.valid_until, asked_at + granted_s)
        return []

    def restored(self, epoch: int) -> list[Action]:
        """The sessions of ``epoch`` are restored: serve, if that term is still ours."""
        if self.role is Role.PRIMARY and epoch == self.epoch:
            self.restored_epoch = epoch
        return []

    def clock(self, now: float) -> list[Action]:
        """Time passed: a lease that ran out by our clock is lost, Redis or not."""
        if self.holds_lease and now >= self.valid_until:
            return self.lease_lost()
        return []

    def lease_held_by_other(self) -> list[Action]:
        """Someone else serves the pair: at start a live primary, later a newer epoch."""
        held = self.holds_lease
        self.role, self.valid_until = Role.BACKUP, 0.0
        return [Action.STOP_SERVING] if held else []

    def lease_free(self) -> list[Action]:
        """Nobody holds the lease and this instance may not claim it yet."""
        if self.role is Role.STARTING:
            self.role = Role.BACKUP
        return []

    def lease_lost(self) -> list[Action]:
        """The renewal failed, the lease lapsed, the pair moved past our term, or the
        sessions could not be restored: stop at once."""
        return self.lease_held_by_other()

    def write_refused(self, pair_epoch: int) -> list[Action]:
        """The live log refused a write because the pair is at ``pair_epoch``: stop
        if the pair moved past our term. A write of an earlier term of ours (begun
        before we lost the pair and took it again) ends nothing."""
        if self.holds_lease and pair_epoch <= self.epoch:
            return []
        return self.lease_lost()

    def leave(self) -> list[Action]:
        """The process is stopping: hand over if we serve (the driver does), and never
        claim or take over again."""
        self.leaving = True
        return []

    def switchover_asked(self) -> list[Action]:
        if self.role is not Role.PRIMARY:
            return []
        self.role = Role.HANDING_OVER
        return [Action.DRAIN]

    def handed_over(self) -> list[Action]:
        return self.lease_held_by_other()
