"""The waiting line and what it tells (chat.waiting), alone: order, places and
the pace of place notices against a plain list, over random operations."""
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.assignment import AgentPicker
from chat.waiting import POSITION_NOTICE_INTERVAL_S, PositionNotices, WaitingLine

# join a new chat | leave: the n-th waiting one leaves (assigned or gone) | rejoin an earlier one
operations = st.lists(
    st.one_of(
        st.just(("join", 0)),
        st.tuples(st.just("leave"), st.integers(min_value=0, max_value=50)),
        st.tuples(st.just("rejoin"), st.integers(min_value=0, max_value=50)),
    ),
    max_size=200,
)


@given(operations)
@settings(max_examples=300, deadline=None)
def test_the_line_keeps_arrival_order_and_exact_places(ops):
    line, model, made = WaitingLine(), [], []
    for op, n in ops:
        if op == "join":
            made.append(f"s{len(made)}")
            line.join(made[-1])
            model.append(made[-1])
        elif op == "leave" and model:
            gone = model.pop(n % len(model))
            line.leave(gone)
        elif op == "rejoin" and made:
            again = made[n % len(made)]
            line.join(again)  # back at the end of the line, unless it waits already
            if again not in model:
                model.append(again)
        assert list(line) == model
        assert len(line) == len(model) and line.first() == (model[0] if model else None)
        for place, session_id in enumerate(model, start=1):
            assert line.position(session_id) == place
        assert all(line.position(s) is None for s in made if s not in model)


@given(st.permutations(range(1, 30)), st.sets(st.integers(min_value=1, max_value=29)))
@settings(max_examples=200, deadline=None)
def test_chats_whose_appends_come_back_out_of_order_take_the_place_redis_gave_them(order, gone):
    """Two batches of appends may answer in the other order than Redis ran them: the
    line follows the ranks Redis gave (which the next primary restores), not the
    order the answers came in."""
    line = WaitingLine()
    for rank in order:
        line.join(f"s{rank}", float(rank))
    for rank in gone:
        line.leave(f"s{rank}")
    expected = [f"s{rank}" for rank in range(1, 30) if rank not in gone]
    assert list(line) == expected
    assert [line.position(session_id) for session_id in expected] == list(range(1, len(expected) + 1))


def test_a_customer_hears_of_a_new_place_at_most_once_a_second():
    line, notices = WaitingLine(), PositionNotices()
    for session_id in ("a", "b", "c"):
        line.join(session_id)
        notices.told(session_id, line.position(session_id), 0.0)
    assert notices.due(line, 0.5) == ([], False)  # nothing moved

    line.leave("a")
    assert notices.due(line, 0.5) == ([], True)  # moved, but told half a second ago
    due, more = notices.due(line, POSITION_NOTICE_INTERVAL_S)
    assert due == [("b", 1), ("c", 2)] and not more
    for session_id, place in due:
        notices.told(session_id, place, POSITION_NOTICE_INTERVAL_S)
    assert notices.due(line, 5.0) == ([], False)


def test_a_chat_that_leaves_the_line_moves_everyone_behind_it():
    line = WaitingLine()
    for session_id in ("a", "b", "c"):
        line.join(session_id)
    line.changed = False
    line.leave("b")
    assert line.changed and line.position("c") == 2
    assert line.take_arrivals() == ["a", "b", "c"] and line.take_arrivals() == []


agent_changes = st.lists(
    st.tuples(st.integers(min_value=0, max_value=7), st.integers(min_value=0, max_value=4),
              st.one_of(st.none(), st.floats(min_value=0, max_value=100))),
    max_size=100,
)


def rule(agents: dict[str, tuple[int, float]], capacity: int) -> str | None:
    """chat.assignment's rule, over every agent: fewest open chats, then longest ready."""
    candidates = [(load, since, agent) for agent, (load, since) in agents.items() if load < capacity]
    return min(candidates)[2] if candidates else None


@given(agent_changes, st.integers(min_value=1, max_value=4))
@settings(max_examples=300, deadline=None)
def test_the_agent_picker_picks_as_the_rule_says(changes, capacity):
    """AgentPicker (a heap told of changes) against the rule over every agent."""
    picker, now = AgentPicker(), {}
    for agent, open_chats, ready_since in changes:
        name = f"agent{agent}"
        picker.update(name, open_chats, ready_since)
        if ready_since is None:
            now.pop(name, None)
        else:
            now[name] = (open_chats, ready_since)
        expected = rule(now, capacity)
        picked = picker.pick(capacity)
        if expected is None:
            assert picked is None
        else:  # equal keys may break either way
            assert picked is not None and now[picked] == now[expected]
