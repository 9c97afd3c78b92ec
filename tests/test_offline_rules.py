"""The offline path's rules without I/O: opening hours and their options, the
queue-timeout in the session state machine, whether anybody is there, and the
checks of an offline message."""
from datetime import UTC, datetime
from html import unescape
from zoneinfo import ZoneInfo

import pytest

from chat.availability import Absence, Summary, answer, verdict
from chat.deadlines import deadline_of
from chat.opening_hours import HoursError, OpeningHours
from chat.session import ChatError, ChatSession, Participant, Status
from ha.models import Option
from ha.options import OptionError, Settings, clean_value
from transcripts import offline

from .test_inactivity_rules import T, stored
from .test_options import inline_form

ALICE = Participant.agent(1, "Alice")
PARIS = ZoneInfo("Europe/Paris")
# Monday 2026-12-07, in Paris (UTC+1 in December).
MONDAY = datetime(2026, 12, 7, tzinfo=PARIS)


def at(day_offset: int, hour: int, minute: int = 0) -> datetime:
    return MONDAY.replace(day=7 + day_offset, hour=hour, minute=minute)


# -- opening hours --------------------------------------------------------------

def test_weekday_hours_are_open_inside_their_ranges_in_the_zone_s_local_time():
    hours = OpeningHours.parse("mon-fri 08:00-12:00,13:00-18:00; sat 09:00-13:00")
    assert hours.is_open(at(0, 8), PARIS) and hours.is_open(at(4, 17, 59), PARIS)
    assert not hours.is_open(at(0, 7, 59), PARIS) and not hours.is_open(at(0, 12, 30), PARIS)
    assert not hours.is_open(at(0, 18), PARIS)
    assert hours.is_open(at(5, 12, 59), PARIS) and not hours.is_open(at(5, 13), PARIS)
    assert not hours.is_open(at(6, 10), PARIS)  # Sunday
    # 07:30 UTC is 08:30 in Paris: open there, not in UTC.
    moment = datetime(2026, 12, 7, 7, 30, tzinfo=UTC)
    assert hours.is_open(moment, PARIS) and not hours.is_open(moment, UTC)


def test_a_day_range_may_wrap_over_the_week_end_and_24_00_ends_a_day():
    hours = OpeningHours.parse("SAT-MON 00:00-24:00")
    assert hours.is_open(at(5, 0), PARIS) and hours.is_open(at(6, 23, 59), PARIS) and hours.is_open(at(0, 12), PARIS)
    assert not hours.is_open(at(1, 12), PARIS)


@pytest.mark.parametrize("text", ["", "always", "  always "])
def test_always_or_nothing_is_always_open(text):
    assert OpeningHours.parse(text).is_open(at(6, 3), PARIS)


@pytest.mark.parametrize("text", [
    "mon-fri", "funday 08:00-09:00", "mon 8:00-9:00", "mon 18:00-08:00", "mon 08:00-08:00", "mon 24:00-24:30",
    "mon 08:60-09:00", "mon 08:00-25:00", "mon 08:00-09:00,", "mon\u00a008:00-09:00",
    "mon 08:00-09:00 junk", ";;", "m\u0000n 08:00-09:00", "\ud800", "mon " + "08:00-09:00," * 30,
])
def test_a_bad_value_is_refused_by_the_option_with_a_message_that_says_what(text):
    with pytest.raises(OptionError) as refused:
        clean_value("opening-hours", text)
    assert str(refused.value).startswith("opening-hours: ")
    with pytest.raises(HoursError):
        OpeningHours.parse(text)


def test_a_trailing_semicolon_and_spaces_are_harmless():
    assert OpeningHours.parse(" mon-fri 08:00-18:00 ; ") == OpeningHours.parse("mon-fri 08:00-18:00")


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../../etc/passwd", "UTC\u0000", "x" * 300])
def test_an_unknown_time_zone_is_refused(name):
    with pytest.raises(OptionError, match="time-zone"):
        clean_value("time-zone", name)


def test_the_defaults_are_always_open_in_utc_and_no_queue_timeout():
    settings = Settings()
    assert settings["opening-hours"] == OpeningHours(None)
    assert settings["time-zone"] == ZoneInfo("UTC")
    assert settings["queue-timeout"] == 0


# -- queue-timeout in the session -------------------------------------------------

@pytest.fixture
def queued() -> ChatSession:
    session, _ = ChatSession.open("s1", "pair", "Carol", "")
    stored(session, session.joined(session.customer), T)
    stored(session, session.queued(1), T + 1)
    return session


def test_a_waiting_chat_times_out_counting_from_its_queued_notice(queued):
    assert not queued.queue_timed_out(T + 30, 30)
    assert queued.queue_timed_out(T + 31, 30)
    assert queued.next_deadline(0, 60, 10, None, 30) == T + 31
    assert not queued.queue_timed_out(T + 10_000, 0)  # 0: no limit
    assert queued.next_deadline(0, 60, 10, None, 0) is None


def test_a_chat_an_agent_has_never_times_out_in_the_queue(queued):
    stored(queued, queued.joined(ALICE), T + 5)
    assert queued.status is Status.ACTIVE
    assert not queued.queue_timed_out(T + 10_000, 30)
    assert queued.next_deadline(0, 60, 10, None, 30) is None


def test_a_chat_whose_agent_left_waits_again_from_its_new_queued_notice(queued):
    stored(queued, queued.joined(ALICE), T + 5)
    stored(queued, queued.leave(ALICE)[0], T + 100)
    assert not queued.queue_timed_out(T + 200, 30)  # not announced yet: no clock running
    stored(queued, queued.queued(1), T + 101)
    assert queued.next_deadline(0, 60, 10, None, 30) == T + 131


def test_a_rebuilt_session_keeps_its_wait_and_deadlines_come_from_the_option(queued):
    rebuilt = ChatSession.rebuild(queued.id, queued.facts(), [])
    assert rebuilt.next_deadline(0, 60, 10, None, 30) is None  # no log: nothing known
    settings = Settings({"queue-timeout": "30"})
    assert deadline_of(queued, settings) == T + 31
    closing = queued.closing("queue-timeout")
    assert (closing["type"], closing["reason"]) == ("closed", "queue-timeout")


# -- whether anybody is there -----------------------------------------------------

@pytest.mark.parametrize(("open_hours", "summary", "expected"), [
    (True, Summary(agents=2, waiting=0), None),
    (True, Summary(agents=2, waiting=9), None),
    (False, Summary(agents=2, waiting=0), Absence.CLOSED),
    (True, Summary(agents=0, waiting=0), Absence.NO_AGENT),
    (True, None, Absence.NO_AGENT),  # nobody serves
    (True, Summary(agents=3, waiting=10), Absence.BUSY),
    (False, None, Absence.CLOSED),
])
def test_the_verdict(open_hours, summary, expected):
    assert verdict(open_hours, summary, max_waiting=10) is expected


def test_the_answer_says_why_and_leaves_the_wait_to_its_estimate():
    closed = Settings({"opening-hours": "mon 08:00-09:00", "time-zone": "Europe/Paris"})
    assert answer(closed, Summary(1, 0), at(1, 8, 30)) == {
        "available": False, "reason": "closed", "agents": 1, "waiting": 0, "expected_wait_s": None}
    assert answer(closed, Summary(1, 0), at(0, 8, 30))["available"] is True
    assert answer(Settings(), None)["reason"] == "no-agent"


# -- an offline message's checks --------------------------------------------------

GOOD = {"name": " Carol ", "email": "carol@example.com", "text": "Call me back,\nplease.\tThanks"}


def test_a_good_message_is_taken_trimmed():
    message = offline.check(GOOD, max_text=100)
    assert (message.name, message.email, message.text, message.after_chat) == (
        "Carol", "carol@example.com", "Call me back,\nplease.\tThanks", "")


@pytest.mark.parametrize(("change", "code"), [
    ({"name": None}, "missing-field"),
    ({"name": "   "}, "missing-field"),
    ({"text": ""}, "missing-field"),
    ({"email": None}, "missing-field"),
    ({"email": "carol"}, "bad-email"),
    ({"email": "carol@@example.com"}, "bad-email"),
    ({"email": "carol@example.com\nBcc: all@example.com"}, "bad-text"),
    ({"email": "a" * 250 + "@example.com"}, "too-long"),
    ({"name": "C" * 65}, "too-long"),
    ({"text": "x" * 101}, "too-long"),
    ({"text": "x" * 200_000}, "too-long"),
    ({"name": "Ca\u0000rol"}, "bad-text"),
    ({"name": "Carol\u2028Admin"}, "bad-text"),
    ({"name": "Carol\nAdmin"}, "bad-text"),
    ({"text": "bell \u0007"}, "bad-text"),
    ({"text": "lone \ud800"}, "bad-text"),
    ({"text": "C1 \u0085"}, "bad-text"),
    ({"session_id": "s" * 65}, "too-long"),
    ({"session_id": "a\u0000"}, "bad-text"),
])
def test_a_bad_message_is_refused_with_the_protocol_s_error_code(change, code):
    form = {key: value for key, value in {**GOOD, **change}.items() if value is not None}
    with pytest.raises(ChatError) as refused:
        offline.check(form, max_text=100)
    assert refused.value.code == code


def test_odd_but_valid_unicode_is_kept_as_written():
    form = {**GOOD, "name": "Zoë 🦊 \u05e9\u05dc\u05d5\u05dd", "text": "e\u0301\u200d👩‍👩‍👧 \ufeff ok"}
    message = offline.check(form, max_text=100)
    assert message.name == form["name"] and message.text == form["text"]


# -- the admin shows what is wrong with opening hours -------------------------------

def test_the_admin_refuses_bad_opening_hours_saying_what_is_wrong(admin_client, make_application):
    application = make_application()
    response = admin_client.post(f"/admin/ha/application/{application.pk}/change/",
                                 inline_form(application, "opening-hours", "mon-fri 18:00-08:00"))
    assert response.status_code == 200  # the form again, with the error
    page = unescape(response.content.decode())
    assert "opening-hours: '18:00-08:00'" in page and "write a range over midnight as two" in page
    assert not Option.objects.filter(application=application).exists()
    response = admin_client.post(f"/admin/ha/application/{application.pk}/change/",
                                 inline_form(application, "opening-hours", "mon-fri 08:00-18:00; sat 09:00-13:00"))
    assert response.status_code == 302
    assert application.settings()["opening-hours"] == OpeningHours.parse("mon-fri 08:00-18:00; sat 09:00-13:00")
