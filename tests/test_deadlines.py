"""Deadlines (chat.deadlines): each session's earliest, each due once."""
from chat.deadlines import Deadlines


def test_each_session_is_due_once_at_its_earliest_deadline():
    deadlines = Deadlines()
    deadlines.schedule("a", 10)
    deadlines.schedule("a", 20)  # later: the earlier one still counts
    deadlines.schedule("b", 15)
    deadlines.schedule("c", None)  # no deadline
    assert deadlines.due(9) == []
    assert deadlines.due(10) == ["a"]
    assert deadlines.due(30) == ["b"]  # a was due once, and is forgotten until scheduled again
    assert len(deadlines) == 0


def test_a_deadline_moved_earlier_counts_and_the_old_one_is_ignored():
    deadlines = Deadlines()
    deadlines.schedule("a", 50)
    deadlines.schedule("a", 5)
    assert deadlines.due(5) == ["a"]
    assert deadlines.due(60) == []  # the stale entry at 50


def test_a_session_with_no_deadline_any_more_is_never_due():
    """Closed: its entry in the heap is passed over when its time comes."""
    deadlines = Deadlines()
    deadlines.schedule("a", 10)
    deadlines.schedule("a", None)
    assert len(deadlines) == 0
    assert deadlines.due(60) == []
