"""The HA role: the state machine alone (every transition and safety rule), and
its driver against real Redis."""
import asyncio

import pytest

from ha import options
from ha.role import BUSY_LOOP_LEASES, Action, Role, RoleMachine
from ha.runtime import Instance

TTL = 1.5


def primary(epoch: int = 1, at: float = 100.0) -> RoleMachine:
    """A machine that won the lease at ``at`` and restored its sessions."""
    machine = RoleMachine("a", "pair", configured_primary=True)
    machine.lease_won(epoch, asked_at=at, granted_s=TTL)
    machine.restored(epoch)
    return machine


# -- starting up ---------------------------------------------------------------

def test_a_configured_backup_waits_out_the_grace_before_claiming_a_free_lease():
    backup = RoleMachine("b", "pair", configured_primary=False)
    assert not backup.may_claim(seconds_since_start=1, startup_grace_s=3)
    assert backup.lease_free() == [] and backup.role is Role.BACKUP
    assert backup.may_claim(seconds_since_start=3, startup_grace_s=3)
    assert RoleMachine("a", "pair", configured_primary=True).may_claim(0, 3)


def test_an_instance_that_finds_a_live_primary_starts_as_backup_and_stops_nothing():
    machine = RoleMachine("a", "pair", configured_primary=True)
    assert machine.lease_held_by_other() == []
    assert machine.role is Role.BACKUP and not machine.serving(0)


# -- serving -------------------------------------------------------------------

def test_a_new_primary_serves_only_once_its_sessions_are_restored():
    machine = RoleMachine("a", "pair", configured_primary=True)
    assert machine.lease_won(4, asked_at=100, granted_s=TTL) == [Action.RESTORE_AND_SERVE]
    assert machine.role is Role.PRIMARY and machine.epoch == 4
    assert not machine.serving(100.1), "served before the sessions were restored"
    assert machine.write_epoch(100.1) == 4, "the restoration writes at the new epoch"
    machine.restored(4)
    assert machine.serving(100.1)


def test_a_restoration_of_an_earlier_term_does_not_make_a_later_one_serve():
    machine = primary(epoch=1)
    machine.lease_lost()
    machine.lease_won(3, asked_at=200, granted_s=TTL)
    machine.restored(1)
    assert not machine.serving(200.1)


def test_the_lease_counts_from_when_the_renewal_was_sent_by_our_own_clock():
    machine = primary(at=100)
    assert machine.serving(100 + TTL - 0.01)
    assert not machine.serving(100 + TTL), "served past the lease by our clock"
    assert machine.write_epoch(100 + TTL) is None
    machine.renewed(asked_at=101, granted_s=TTL)
    assert machine.serving(101 + TTL - 0.01)


def test_a_late_answer_to_an_older_renewal_never_shortens_the_lease():
    machine = primary(at=100)
    machine.renewed(asked_at=101, granted_s=TTL)
    machine.renewed(asked_at=100.5, granted_s=TTL)
    assert machine.valid_until == 101 + TTL


def test_a_lease_that_ran_out_by_our_clock_is_lost_even_without_word_from_redis():
    machine = primary(at=100)
    assert machine.clock(100 + TTL - 0.01) == []
    assert machine.clock(100 + TTL) == [Action.STOP_SERVING]
    assert machine.role is Role.BACKUP
    assert machine.clock(200) == []  # once


def test_a_primary_that_loses_its_lease_stops_serving_and_is_backup():
    machine = primary(epoch=4)
    assert machine.lease_lost() == [Action.STOP_SERVING]
    assert machine.role is Role.BACKUP and not machine.serving(100.1)
    assert machine.write_epoch(100.1) is None
    assert machine.lease_lost() == []  # once


def test_an_epoch_that_does_not_move_forward_is_refused():
    machine = primary(epoch=4)
    machine.lease_lost()
    with pytest.raises(ValueError):
        machine.lease_won(4, asked_at=200, granted_s=TTL)


# -- the serving loop's sign of life ------------------------------------------

def test_a_renewal_never_lets_the_lease_outlive_the_loops_last_sign_of_life_by_more_than_a_ttl():
    machine = primary()
    assert machine.renewal_grant(now=100, ticked_at=100, working_at=100, ttl_s=TTL) == TTL
    assert machine.renewal_grant(now=100.5, ticked_at=100, working_at=100, ttl_s=TTL) == pytest.approx(1.0)
    assert machine.renewal_grant(now=101.5, ticked_at=100, working_at=100, ttl_s=TTL) <= 0, \
        "a stuck loop kept the lease"


def test_a_loop_stalled_shorter_than_the_lease_keeps_the_role():
    machine = primary(at=100)
    # The loop was last seen at 100 and stalls for 0.8 s; renewals go on meanwhile.
    for now in (100.5, 100.75):
        machine.renewed(now, machine.renewal_grant(now, ticked_at=100, working_at=100, ttl_s=TTL))
    assert machine.clock(100.8) == [] and machine.serving(100.8)
    machine.renewed(101.0, machine.renewal_grant(101.0, ticked_at=100.8, working_at=100, ttl_s=TTL))
    assert machine.serving(102.0)


def test_a_loop_stalled_longer_than_the_lease_loses_the_role():
    machine = primary(at=100)
    for now in (100.5, 101.0, 101.49):
        machine.renewed(now, machine.renewal_grant(now, ticked_at=100, working_at=100, ttl_s=TTL))
    assert machine.clock(100 + TTL) == [Action.STOP_SERVING]
    assert machine.write_epoch(100 + TTL) is None


def test_a_loop_busy_on_one_long_turn_keeps_the_role():
    """Thousands of handshakes in one turn of the loop: no timer runs for seconds,
    but the loop's thread is seen working at every round, so renewals go on."""
    machine = primary(at=100)
    for now in (100.5, 101.0, 101.5, 102.0, 102.5, 103.0):
        machine.renewed(now, machine.renewal_grant(now, ticked_at=100, working_at=now, ttl_s=TTL))
    assert machine.clock(103.4) == [] and machine.serving(103.4)


def test_a_loop_that_works_without_ever_running_its_timer_loses_the_role_after_a_few_leases():
    """A loop spinning for ever works too: past BUSY_LOOP_LEASES leases without a
    timer it is stuck all the same."""
    machine = primary(at=100)
    limit = 100 + BUSY_LOOP_LEASES * TTL
    now = 100.0
    while now < limit + TTL:
        machine.clock(now)
        grant = machine.renewal_grant(now, ticked_at=100, working_at=now, ttl_s=TTL)
        if grant > 0:
            machine.renewed(now, grant)
        now += 0.5
    assert not machine.serving(now)
    assert machine.write_epoch(limit + TTL) is None


def test_a_refused_write_of_an_earlier_term_leaves_the_current_one_alone():
    """A write begun at epoch 2, refused after this instance lost the pair and took
    it again at 3, says nothing about term 3; one refused at 4 ends it."""
    machine = primary(epoch=2)
    machine.lease_lost()
    machine.lease_won(3, asked_at=101, granted_s=TTL)
    machine.restored(3)
    assert machine.write_refused(pair_epoch=3) == []
    assert machine.serving(101.5)
    assert machine.write_refused(pair_epoch=4) == [Action.STOP_SERVING]
    assert not machine.serving(101.5)


# -- taking over from a dead primary ------------------------------------------

def test_a_backup_takes_over_at_once_from_a_holder_whose_connection_is_gone():
    backup = RoleMachine("b", "pair", configured_primary=False)
    backup.lease_held_by_other()
    assert not backup.may_take_over_from("a", holder_connected=True)
    assert backup.may_take_over_from("a", holder_connected=False)
    assert not backup.may_take_over_from(None, holder_connected=False)
    assert not backup.may_take_over_from("b", holder_connected=False), "took the lease from itself"
    assert backup.lease_won(2, asked_at=100, granted_s=TTL) == [Action.RESTORE_AND_SERVE]


def test_a_primary_never_takes_over_from_anyone():
    assert not primary().may_take_over_from("b", holder_connected=False)


# -- switchover and planned stop ----------------------------------------------

def test_a_switchover_drains_then_hands_over():
    machine = primary(epoch=1)
    assert machine.switchover_asked() == [Action.DRAIN]
    assert not machine.serving(100.1) and machine.holds_lease  # no new frames, lease still ours
    assert machine.write_epoch(100.1) == 1, "the drain writes its notices"
    assert machine.switchover_asked() == []  # once
    machine.renewed(100.5, TTL)  # renewals go on while it drains
    assert machine.handed_over() == [Action.STOP_SERVING]
    assert machine.role is Role.BACKUP


def test_the_member_handed_the_lease_resumes_the_sessions_as_they_are():
    backup = RoleMachine("b", "pair", configured_primary=False)
    backup.lease_held_by_other()
    assert backup.lease_handed_to_us(3, asked_at=100, granted_s=TTL) == [Action.RESUME_AND_SERVE]
    assert backup.epoch == 3 and backup.role is Role.PRIMARY


def test_only_a_primary_drains_for_a_switchover():
    backup = RoleMachine("b", "pair", configured_primary=False)
    assert backup.switchover_asked() == []


def test_a_member_that_is_stopping_never_takes_the_role_again():
    machine = RoleMachine("a", "pair", configured_primary=True)
    machine.leave()
    assert not machine.may_claim(seconds_since_start=100, startup_grace_s=3)
    assert not machine.may_take_over_from("b", holder_connected=False)


# -- the driver ----------------------------------------------------------------

class SlowRestore:
    """A chat service whose restoration takes longer than the lease."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.stopped = 0

    async def serve(self, epoch: int, *, takeover: bool, previous: str) -> None:
        await asyncio.sleep(self.seconds)

    async def drain(self, new_primary) -> None: ...

    async def stop_serving(self) -> None:
        self.stopped += 1


def test_an_instance_keeps_its_lease_while_a_long_restoration_runs_and_serves_after_it(
    make_application, redis_url
):
    application = make_application()
    instance = Instance(application, options.Settings({"ha-lease-ttl-ms": "600", "ha-renew-interval-ms": "150"}))
    instance.listener = listener = SlowRestore(seconds=1.5)

    async def watch() -> list[tuple[str, bool, int]]:
        running = asyncio.ensure_future(instance.run())
        seen = []
        for _ in range(25):
            await asyncio.sleep(0.1)
            seen.append((instance.role, instance.serving, instance.epoch))
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        return seen

    seen = asyncio.run(watch())
    assert {epoch for _, _, epoch in seen} == {1}, "the lease was lost and claimed again"
    assert listener.stopped == 0
    assert not seen[5][1], "served before the sessions were restored"
    assert seen[-1] == (Role.PRIMARY, True, 1)


class Drains(SlowRestore):
    """A chat service that restores at once and counts its drains."""

    def __init__(self) -> None:
        super().__init__(seconds=0)
        self.drained = 0

    async def drain(self, new_primary) -> None:
        self.drained += 1


def test_a_hand_over_that_fails_gives_the_role_up_instead_of_staying_handing_over(
    make_application, redis_url
):
    application = make_application()
    other = make_application(pair=application.pair, role="backup")
    instance = Instance(application, options.Settings({"ha-lease-ttl-ms": "600", "ha-renew-interval-ms": "150"}),
                        [application, other])
    instance.listener = listener = Drains()

    async def scenario() -> Role:
        running = asyncio.ensure_future(instance.run())
        while not instance.serving:
            await asyncio.sleep(0.05)

        async def refused(*args, **kwargs):
            raise ConnectionError("Redis went away mid-hand-over")

        instance.keeper.lease.hand_over = refused
        handed = await asyncio.wrap_future(instance.keeper.call(instance.keeper.switch_over(other, "a test")))
        while instance.role is Role.HANDING_OVER:
            await asyncio.sleep(0.05)
        role = instance.role
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        assert not handed
        return role

    assert asyncio.run(scenario()) is Role.BACKUP
    assert listener.drained == 1 and listener.stopped == 1
