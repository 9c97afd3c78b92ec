"""Nobody there (issue 13) as the customer page shows it: outside opening hours the
page offers the offline form instead of a chat, and the message lands as an
unanswered offline transcript; a wait nobody answers in time turns into the form."""
from datetime import UTC, datetime

from playwright.sync_api import expect

from chat.opening_hours import DAYS
from transcripts.models import Transcript

from .pagekit import start_chat


def test_outside_opening_hours_the_page_offers_the_offline_form_and_the_message_is_kept(make_application,
                                                                                       start_server, pages):
    """Open only on a day three days from today: no start form, the form with the
    closed text; Carol leaves a message and is thanked; it is stored unanswered."""
    other_day = DAYS[(datetime.now(UTC).weekday() + 3) % 7]
    server = start_server(make_application(opening_hours=f"{other_day} 08:00-18:00"))
    carol = pages.open("customer", f"{server.http}/")
    expect(carol.locator("#nobody")).to_be_visible()
    expect(carol.locator("#nobody-text")).to_contain_text("outside our opening hours")
    expect(carol.locator("#start")).to_be_hidden()
    carol.fill("#offline input[name=name]", "Carol")
    carol.fill("#offline input[name=email]", "carol@example.com")
    carol.fill("#offline textarea[name=text]", "Could someone call me back tomorrow?\nThanks, Carol")
    pages.screenshot(carol, "customer-offline-form")
    carol.click("#offline button")
    expect(carol.locator("#offline-done")).to_be_visible()
    expect(carol.locator("#offline")).to_be_hidden()
    pages.screenshot(carol, "customer-offline-sent")
    row = Transcript.objects.get(offline="unanswered")
    assert (row.email, row.participants.get().nickname) == ("carol@example.com", "Carol")
    assert row.events.get().data["text"] == "Could someone call me back tomorrow?\nThanks, Carol"


def test_a_wait_nobody_answers_in_time_turns_into_the_offline_form(make_application, start_server, pages):
    """No agent: the page says so beside the start form; Carol waits anyway, nobody
    answers within queue-timeout, the chat ends and the form is offered, her name in it."""
    server = start_server(make_application(queue_timeout="2"))
    carol = pages.open("customer", f"{server.http}/")
    expect(carol.locator("#nobody-text")).to_contain_text("Nobody is available")
    start_chat(carol, "Carol")
    expect(carol.locator("#nobody")).to_be_hidden()
    expect(carol.locator('li[data-type="closed"]')).to_have_attribute("data-reason", "queue-timeout",
                                                                      timeout=10_000)
    expect(carol.locator("#nobody-text")).to_contain_text("nobody answered in time")
    expect(carol.locator("#offline input[name=name]")).to_have_value("Carol")
    pages.screenshot(carol, "customer-queue-timeout-offline-form")
    carol.fill("#offline input[name=email]", "carol@example.com")
    carol.fill("#offline textarea[name=text]", "I waited; please write to me.")
    carol.click("#offline button")
    expect(carol.locator("#offline-done")).to_be_visible()
    row = Transcript.objects.get(offline="unanswered")
    assert row.events.get().data["after_chat"] == carol.evaluate(
        "JSON.parse(sessionStorage.getItem('chat.customer')).session_id")


def test_an_agent_takes_then_answers_an_offline_message_on_the_desktop(make_application, start_server, pages,
                                                                       login_agent):
    """Carol's message (with a line break and markup, shown as text) is on Alice's
    desktop; she takes it, then marks it answered, and it leaves the list."""
    server = start_server(make_application())
    text = "Call me back, please.\n<b>not bold</b>"
    carol = pages.open("customer", f"{server.http}/")
    carol.fill("#offline input[name=name]", "Carol")
    carol.fill("#offline input[name=email]", "carol@example.com")
    carol.fill("#offline textarea[name=text]", text)
    carol.click("#offline button")
    expect(carol.locator("#offline-done")).to_be_visible()

    desk = login_agent(pages, server.http, "alice")
    item = desk.locator("#offline-list li")
    expect(item).to_have_count(1)
    expect(item.locator(".who")).to_have_text("Carol")
    expect(item.locator(".text")).to_have_text(text)
    expect(item.locator("a.email")).to_have_attribute("href", "mailto:carol@example.com")
    pages.screenshot(desk, "agent-offline-messages")
    item.get_by_role("button", name="Take").click()
    expect(item).to_have_attribute("data-state", "taken")
    expect(item.locator(".meta")).to_contain_text("taken by you")
    item.get_by_role("button", name="Mark answered").click()
    expect(desk.locator("#offline-list li")).to_have_count(0)
    expect(desk.locator("#offline-none")).to_be_visible()
    assert Transcript.objects.get().offline == "answered"
