"""The due-save record's rules without I/O (transcripts.due, the policy's part)."""
from chat.livelog import OwedSave
from ha.options import Settings
from transcripts import due
from transcripts.policy import SavePolicy


def event(type_: str, **fields) -> dict:
    return {"type": type_, "session_id": "s1", "seq": 5, "at": "2026-01-01T10:00:00.000Z", **fields}


def test_every_end_owes_a_save_even_one_that_a_failed_save_caused():
    rules = SavePolicy.of(Settings({"transcript-save-on-error": "close"}))
    for reason in ("customer-left", "not-restored", "transcript-save-error", "inactivity"):
        assert rules.owes(event("closed", reason=reason))
    # ... but the one a failed save caused is not handed at once: the store just failed.
    assert not rules.saves_after(event("closed", reason="transcript-save-error"))


def test_messages_owe_a_save_only_when_auto_save_saves_them():
    message = event("message", text="hi")
    assert not SavePolicy.of(Settings({"transcript-auto-save": "0"})).owes(message)
    assert SavePolicy.of(Settings({"transcript-auto-save": "1"})).owes(message)
    assert not SavePolicy.of(Settings({"transcript-auto-save": "2"})).owes(event("notice", notice="ucs-save"))


def test_the_sweeper_steps_in_only_after_the_saves_own_retries():
    rules = SavePolicy.of(Settings({"transcript-resend-attempts": "4", "transcript-resend-delay": "0.5"}))
    assert rules.sweep_after_s == 4 * 0.5 + due.SWEEP_MARGIN_S
    assert due.sweep_after(0, 1) == due.SWEEP_MARGIN_S


def test_the_sweepers_hand_offs_try_once_and_report_nothing():
    options = SavePolicy.of(Settings({"transcript-save-notices": "all"})).sweeper_task_options()
    assert options["attempts"] == 0 and options["report"] is False and options["notices"] == "all"


def test_the_wait_between_hand_offs_grows_with_how_long_the_save_is_owed_within_bounds():
    waits = [due.resend_wait(owed_for) for owed_for in (0, 1, 4, 10, 30, 100, 1000, 10**6)]
    assert waits == sorted(waits)
    assert waits[0] == due.MIN_RESEND_S and waits[-1] == due.MAX_RESEND_S
    assert due.resend_wait(10) == 5


def test_a_plan_hands_each_due_save_with_its_next_wait_and_says_which_are_stuck():
    now = 10_000.0
    owed = [OwedSave("fresh", 7, now - 6), OwedSave("old", 30, now - due.STUCK_AFTER_S - 1),
            OwedSave("clock-skew", 3, now + 2)]
    plan = due.plan(now, owed)
    assert [(r.session_id, r.upto) for r in plan] == [("fresh", 7), ("old", 30), ("clock-skew", 3)]
    assert [r.wait for r in plan] == [3, due.MAX_RESEND_S, due.MIN_RESEND_S]
    assert [r.stuck for r in plan] == [False, True, False]
    assert plan[2].owed_for == 0
    assert due.plan(now, []) == []
