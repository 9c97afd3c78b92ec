"""A customer page and an agent desktop talking through one real chat server."""
from playwright.sync_api import expect

from ..conftest import AGENT_PASSWORD
from .conftest import DESKTOP, PHONE
from .pagekit import (
    assert_each_seq_once,
    events,
    expect_message,
    message_texts,
    panel,
    say,
    start_chat,
)

XSS = "<img src=x onerror=alert(1)>"


def test_a_customer_and_an_agent_chat_in_their_pages(server, pages, agent_cookie):
    """Alice logs in, takes Carol's chat, and they write both ways, see each other type, and Alice closes it."""
    agent_cookie("alice")  # makes the account; Alice logs in through the form
    desk = pages.open("agent", f"{server.http}/agent/", viewport=DESKTOP)
    expect(desk).to_have_url(f"{server.http}/accounts/login/?next=/agent/")
    pages.screenshot(desk, "login")
    desk.fill("#id_username", "alice")
    desk.fill("#id_password", AGENT_PASSWORD)
    desk.click("#login")
    expect(desk).to_have_url(f"{server.http}/agent/")
    expect(desk.locator("#status")).to_have_attribute("data-state", "open")
    desk.check("#available")

    carol = pages.open("customer", f"{server.http}/")
    expect(carol).to_have_title("Chat HA web sample")
    pages.screenshot(carol, "customer-start")
    start_chat(carol, "Carol", "billing")
    expect(carol.locator("#transcript li[data-type=joined]").filter(has_text="Alice joined")).to_have_count(1)
    chat = panel(desk)
    expect(chat.locator("h2.customer")).to_have_text("Carol")
    expect(chat.locator(".subject")).to_have_text("billing")

    carol.locator("#send input").press_sequentially("my invoice")
    expect(chat.locator(".typing")).to_have_text("Carol is typing…")
    carol.locator("#send input").press("Enter")
    expect_message(chat, "my invoice")
    expect(chat.locator(".typing")).to_be_hidden()
    say(chat, "Let me look, Carol")
    expect_message(carol, "Let me look, Carol")
    say(carol, "thanks")
    expect_message(chat, "thanks")

    for page, root in ((carol, carol), (desk, chat)):
        assert message_texts(root) == ["my invoice", "Let me look, Carol", "thanks"]
        assert_each_seq_once(root)
        expect(page.locator("#server")).to_contain_text(server.name)
        expect(page.locator("#epoch")).to_have_text("1")
    assert [item["who"] for item in events(carol) if item["type"] == "message"] == ["You", "Alice", "You"]

    desk.reload()  # the desk keeps its chats, and Alice stays available
    expect(desk.locator("#status")).to_have_attribute("data-state", "open")
    expect(desk.locator("#available")).to_be_checked()
    chat = panel(desk)
    say(carol, "are you there?")
    expect_message(chat, "are you there?")
    assert message_texts(chat) == ["my invoice", "Let me look, Carol", "thanks", "are you there?"]
    assert_each_seq_once(chat)

    chat.locator("button.close-chat").click()
    expect(carol.locator("#ended")).to_contain_text("the agent closed it")
    expect(carol.locator("#send")).to_be_hidden()
    expect(chat.locator(".ended")).to_contain_text("Chat closed")
    expect(carol.locator("#status")).to_have_attribute("data-state", "stopped")


def test_markup_in_a_message_or_a_nickname_shows_as_text(server, pages, login_agent):
    """A message and a nickname that look like HTML show as typed, on both pages, and run nothing."""
    desk = login_agent(pages, server.http, "alice", viewport=PHONE)  # the desk on a phone, too
    desk.check("#available")
    eve = pages.open("customer", f"{server.http}/")
    start_chat(eve, "<b>Eve</b>", "<script>alert(2)</script>")
    chat = panel(desk)
    expect(chat.locator("h2.customer")).to_have_text("<b>Eve</b>")
    expect(chat.locator(".subject")).to_have_text("<script>alert(2)</script>")

    say(eve, XSS)
    expect_message(chat, XSS)
    expect_message(eve, XSS)
    say(chat, XSS + " is what you wrote")
    expect_message(eve, XSS + " is what you wrote")

    for page in (eve, desk):
        assert page.locator("ol.transcript img, ol.transcript b, ol.transcript script").count() == 0
        assert page.locator("#chats img, #chats b, #subject b").count() == 0
    who = chat.locator("li[data-type=message] .who").first
    expect(who).to_have_text("<b>Eve</b>")
    desk.wait_for_timeout(300)  # an onerror handler would have fired by now
    assert pages.dialogs == []


def test_a_waiting_customer_sees_its_place_in_the_queue_and_can_leave(server, pages):
    """With no agent around Dave is told his place in the queue; he leaves and may start afresh."""
    dave = pages.open("customer", f"{server.http}/")
    start_chat(dave, "Dave", "nobody home")
    expect(dave.locator("#transcript li[data-notice=queued]")).to_contain_text("number 1 in the queue")
    dave.click("#leave")
    expect(dave.locator("#transcript li[data-type=closed]")).to_have_attribute("data-reason", "customer-left")
    expect(dave.locator("#ended")).to_contain_text("the customer left")
    expect(dave.locator("#status")).to_have_text("Chat ended")
    pages.screenshot(dave, "ended")

    dave.click("#new-chat")
    expect(dave.locator("#start")).to_be_visible()
    assert dave.evaluate("sessionStorage.getItem('chat.customer')") is None


def test_a_waiting_customer_sees_its_place_move_up_and_go_when_an_agent_takes_the_chat(server, pages, login_agent):
    """Carol and Dave wait; Dave is second. Carol leaves: Dave's page says he is first
    (an ephemeral frame, no event in his transcript). Alice takes his chat: the place goes."""
    carol = pages.open("carol", f"{server.http}/")
    start_chat(carol, "Carol", "first")
    expect(carol.locator("#place")).to_have_text("You are number 1 in the queue")
    dave = pages.open("dave", f"{server.http}/")
    start_chat(dave, "Dave", "second")
    expect(dave.locator("#place")).to_have_text("You are number 2 in the queue")

    carol.click("#leave")
    expect(dave.locator("#place")).to_have_text("You are number 1 in the queue")
    expect(dave.locator("#transcript li[data-notice=queued]")).to_have_count(1)  # the wait's one stored notice
    pages.screenshot(dave, "first-in-line")

    desk = login_agent(pages, server.http, "alice")
    desk.check("#available")
    expect(dave.locator("#transcript li[data-type=joined]").filter(has_text="Alice joined")).to_have_count(1)
    expect(dave.locator("#place")).to_be_hidden()
