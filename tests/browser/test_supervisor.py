"""The supervisor page (issue 13) as a supervisor, an agent and a customer see it:
the open chats, silent monitoring, coaching only the staff see, barge-in."""
from playwright.sync_api import expect

from .conftest import DESKTOP, FAILOVER_TIMEOUT_MS
from .pagekit import assert_each_seq_once, expect_message, message_texts, panel, say, start_chat

COACHING = "Offer her the refund"
ANSWER = "OK, doing it now"


def test_sue_monitors_coaches_alice_and_barges_in_while_carol_sees_only_what_is_for_her(
        make_application, start_server, pages, login_agent, supervisor_cookie):
    """Sue monitors Carol's chat with Alice and coaches her; Alice answers staff only;
    Carol sees none of it until Sue barges in and writes to everyone."""
    server = start_server(make_application())
    desk = login_agent(pages, server.http, "alice")
    expect(desk.locator("#status")).to_have_attribute("data-state", "open")
    desk.check("#available")
    carol = pages.open("customer", f"{server.http}/")
    start_chat(carol, "Carol", "Billing")
    expect(carol.locator("#transcript li[data-type=joined]").filter(has_text="Alice joined")).to_have_count(1)
    say(carol, "My bill is wrong")
    chat = panel(desk)
    expect_message(chat, "My bill is wrong")

    sue = pages.open("sue", f"{server.http}/supervisor/", cookie=supervisor_cookie("sue"), viewport=DESKTOP)
    row = sue.locator("#open-chats tbody tr").filter(has_text="Carol")
    expect(row).to_contain_text("Alice")
    expect(row).to_contain_text("Billing")
    row.locator("button.monitor").click()
    monitored = panel(sue)
    expect_message(monitored, "My bill is wrong")
    expect(monitored.locator(".agent-line")).to_have_text("Agent: Alice")

    say(monitored, COACHING)
    coached = chat.locator("li.internal[data-type=message]").filter(has_text=COACHING)
    expect(coached).to_have_count(1)
    expect(coached.locator(".who")).to_contain_text("Sue (supervisor)")
    expect(coached.locator(".badge")).to_have_text("staff only")
    chat.locator("input[name=internal]").check()
    say(chat, ANSWER)
    expect(monitored.locator("li.internal[data-type=message]").filter(has_text=ANSWER)).to_have_count(1)
    chat.locator("input[name=internal]").uncheck()
    say(chat, "We will refund you")
    expect_message(carol, "We will refund you")
    pages.screenshot(desk, "agent-desk-coached")
    pages.screenshot(sue, "supervisor-page-monitoring")

    # Carol saw nothing of Sue, and a transcript with no hole where the coaching was.
    assert COACHING not in message_texts(carol) and ANSWER not in message_texts(carol)
    assert "Sue" not in carol.locator("#transcript").inner_text()
    assert_each_seq_once(carol)

    monitored.locator("button.barge-in").click()
    barged = carol.locator("#transcript li[data-type=joined]").filter(has_text="Sue (supervisor) joined")
    expect(barged).to_have_count(1)
    expect(monitored.locator("button.leave-chat")).to_be_visible()
    monitored.locator("input[name=everyone]").check()
    say(monitored, "Hello Carol, I am the supervisor")
    expect_message(carol, "Hello Carol, I am the supervisor")
    expect_message(chat, "Hello Carol, I am the supervisor")
    expect(row).to_contain_text("Sue")  # the list of open chats shows who is in each
    pages.screenshot(sue, "supervisor-page-barged-in")
    pages.screenshot(carol, "customer-after-barge-in")

    assert COACHING not in message_texts(carol)
    for root in (carol, chat, monitored):
        assert_each_seq_once(root)


def test_the_supervisor_page_rides_out_a_kill_9_and_coaching_stays_internal(
        make_application, start_server, pages, login_agent, supervisor_cookie):
    """The server dies just after Sue coached Alice and comes back at epoch 2: Sue's page
    monitors the chat again on its own, the coaching is still staff only, and Carol
    never sees it."""
    application = make_application(session_restoration_mode="simple")
    first = start_server(application)
    desk = login_agent(pages, first.http, "alice")
    desk.check("#available")
    carol = pages.open("customer", f"{first.http}/")
    start_chat(carol, "Carol", "outage")
    chat = panel(desk)
    say(carol, "before the crash")
    expect_message(chat, "before the crash")
    sue = pages.open("sue", f"{first.http}/supervisor/", cookie=supervisor_cookie("sue"), viewport=DESKTOP)
    sue.locator("#open-chats button.monitor").click()
    monitored = panel(sue)
    expect_message(monitored, "before the crash")
    say(monitored, "coached just before the crash")
    expect(chat.locator("li.internal").filter(has_text="coached just before the crash")).to_have_count(1)

    first.kill()
    for page in (carol, desk, sue):
        expect(page.locator("#status")).to_have_attribute("data-state", "waiting")
    start_server(application)
    for page in (carol, desk, sue):
        expect(page.locator("#status")).to_have_attribute("data-state", "open", timeout=FAILOVER_TIMEOUT_MS)
        expect(page.locator("#epoch")).to_have_text("2")
    expect(carol.locator("#transcript li[data-type=reconnected]")).to_have_count(2, timeout=FAILOVER_TIMEOUT_MS)
    say(monitored, "coached after the crash")
    expect(chat.locator("li.internal").filter(has_text="coached after the crash")).to_have_count(1)
    say(chat, "all good again")
    for root in (carol, monitored):
        expect_message(root, "all good again")
    pages.screenshot(sue, "supervisor-page-after-restart")

    expect(chat.locator("li.internal").filter(has_text="coached just before the crash")).to_have_count(1)
    expect(monitored.locator("li.internal").filter(has_text="coached just before the crash")).to_have_count(1)
    assert message_texts(carol) == ["before the crash", "all good again"]
    for root in (carol, chat, monitored):
        assert_each_seq_once(root)
