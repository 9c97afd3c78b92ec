"""inactivity-control as the pages show it: the alert's and the close's texts."""
from playwright.sync_api import expect

from .pagekit import panel, start_chat

ALERT = "Are you still there, Carol?"
CLOSE = "Closed: nobody wrote for a while."


def test_both_pages_show_the_inactivity_alert_then_the_close_text(make_application, start_server, pages,
                                                                 login_agent):
    """Alice takes Carol's chat; nobody writes; both pages show the alert, then the close text."""
    server = start_server(make_application(
        inactivity_control_enabled="true", inactivity_timeout_alert="2", inactivity_timeout_close="4",
        inactivity_message_alert=ALERT, inactivity_message_close=CLOSE,
    ))
    desk = login_agent(pages, server.http, "alice")
    expect(desk.locator("#status")).to_have_attribute("data-state", "open")
    desk.check("#available")
    carol = pages.open("customer", f"{server.http}/")
    start_chat(carol, "Carol")
    expect(carol.locator("#transcript li[data-type=joined]").filter(has_text="Alice joined")).to_have_count(1)
    chat = panel(desk)

    for root in (carol, chat):
        expect(root.locator('li[data-notice="inactivity-alert"] .text')).to_have_text(ALERT, timeout=10_000)
    pages.screenshot(carol, "customer-inactivity-alert")
    pages.screenshot(desk, "agent-inactivity-alert")
    for root in (carol, chat):
        expect(root.locator('li[data-notice="inactivity-close"] .text')).to_have_text(CLOSE, timeout=10_000)
        expect(root.locator('li[data-type="closed"]')).to_have_attribute("data-reason", "inactivity")
    pages.screenshot(carol, "customer-inactivity-close")
