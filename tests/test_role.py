"""The HA role: the state machine alone, and its driver against real Redis."""
import asyncio

from ha import options
from ha.role import Action, Role, RoleMachine
from ha.runtime import Instance


def test_a_configured_backup_waits_out_the_grace_before_claiming_a_free_lease():
    backup = RoleMachine("b", "pair", configured_primary=False)
    assert not backup.may_claim(seconds_since_start=1, startup_grace_s=3)
    assert backup.lease_free() == [] and backup.role is Role.BACKUP
    assert backup.may_claim(seconds_since_start=3, startup_grace_s=3)
    assert RoleMachine("a", "pair", configured_primary=True).may_claim(0, 3)


def test_a_primary_that_loses_its_lease_stops_serving_and_is_backup():
    machine = RoleMachine("a", "pair", configured_primary=True)
    assert machine.lease_won(4) == [Action.RESTORE_AND_SERVE]
    assert machine.serving and machine.epoch == 4
    assert machine.lease_lost() == [Action.STOP_SERVING]
    assert machine.role is Role.BACKUP and not machine.serving
    assert machine.lease_lost() == []  # once


def test_a_switchover_drains_then_hands_over():
    machine = RoleMachine("a", "pair", configured_primary=True)
    machine.lease_won(1)
    assert machine.switchover_asked() == [Action.DRAIN]
    assert not machine.serving and machine.holds_lease  # no new frames, lease still ours
    assert machine.handed_over() == [Action.STOP_SERVING]
    assert machine.lease_handed_to_us(3) == [Action.RESUME_AND_SERVE] and machine.epoch == 3


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
        return seen

    seen = asyncio.run(watch())
    assert {epoch for _, _, epoch in seen} == {1}, "the lease was lost and claimed again"
    assert listener.stopped == 0
    assert not seen[5][1], "served before the sessions were restored"
    assert seen[-1] == (Role.PRIMARY, True, 1)
