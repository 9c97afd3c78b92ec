"""When a member holding a socket (a takeover may be under way) refuses it:
ha.runtime.RecentRounds, the rule, without a server."""
from ha.runtime import RecentRounds

ARRIVED = 10.0


def rounds(*seen: tuple[float, bool]) -> RecentRounds:
    recent = RecentRounds()
    for began, coming in seen:
        recent.done(began, coming)
    return recent


def test_no_round_yet_refuses_nothing():
    assert not RecentRounds().another_serves(ARRIVED)


def test_one_round_that_saw_another_member_serving_is_not_proof_enough():
    # Redis may not yet have read the close of a primary killed a moment ago.
    assert not rounds((ARRIVED + 0.1, False)).another_serves(ARRIVED)


def test_two_rounds_begun_after_the_socket_arrived_that_saw_another_member_serving_refuse_it():
    assert rounds((ARRIVED + 0.1, False), (ARRIVED + 0.2, False)).another_serves(ARRIVED)


def test_a_round_begun_before_the_socket_arrived_does_not_count():
    assert not rounds((ARRIVED - 0.05, False), (ARRIVED + 0.1, False)).another_serves(ARRIVED)
    assert not rounds((ARRIVED, False), (ARRIVED + 0.1, False)).another_serves(ARRIVED)


def test_a_round_that_found_this_member_about_to_serve_holds_the_socket():
    assert not rounds((ARRIVED + 0.1, False), (ARRIVED + 0.2, True)).another_serves(ARRIVED)
    assert not rounds((ARRIVED + 0.1, True), (ARRIVED + 0.2, False)).another_serves(ARRIVED)


def test_only_the_last_rounds_count():
    seen = rounds((ARRIVED + 0.1, True), (ARRIVED + 0.2, False), (ARRIVED + 0.3, False))
    assert seen.another_serves(ARRIVED)
    assert not seen.another_serves(ARRIVED + 0.25)
