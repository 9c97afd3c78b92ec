"""A transfer as the pages show it: Alice hands Carol's chat to Bob with a note
from her desk; Bob's desk gets the chat with its whole history and the note;
Carol's page says who took over, and never shows the note."""
from playwright.sync_api import expect

from .pagekit import assert_each_seq_once, expect_message, message_texts, panel, say, start_chat


def test_alice_transfers_carols_chat_to_bob_from_her_desk(server, pages, login_agent):
    """Alice picks Bob in the transfer form with a note; Bob's desk has the chat and
    its history, Carol sees "Alice transferred the chat to Bob" and chats on with Bob."""
    alice = login_agent(pages, server.http, "alice")
    expect(alice.locator("#status")).to_have_attribute("data-state", "open")
    alice.check("#available")
    carol = pages.open("customer", f"{server.http}/")
    start_chat(carol, "Carol", "a late parcel")
    expect(carol.locator("#transcript li[data-type=joined]").filter(has_text="Alice joined")).to_have_count(1)
    alices = panel(alice)
    say(carol, "my parcel is late")
    expect_message(alices, "my parcel is late")
    say(alices, "Let me find who handles parcels")
    expect_message(carol, "Let me find who handles parcels")

    bob = login_agent(pages, server.http, "bob")
    expect(bob.locator("#status")).to_have_attribute("data-state", "open")
    bob.check("#available")

    alices.locator(".transfer-chat").click()
    form = alices.locator("form.transfer")
    expect(form).to_be_visible()
    expect(form.locator("select[name=to] option").filter(has_text="Bob (0 chats)")).to_have_count(1)
    form.locator("select[name=to]").select_option(label="Bob (0 chats)")
    form.locator("textarea[name=note]").fill("Parcel 42, left the depot on Monday")
    pages.screenshot(alice, "alice-transfer-form")
    form.locator("button[type=submit]").click()

    expect(alices.locator(".ended")).to_have_text("You transferred this chat to Bob.")
    expect(carol.locator("#transcript li[data-type=transferred] .text")).to_have_text(
        "Alice transferred the chat to Bob", timeout=10_000)
    bobs = panel(bob)
    expect(bobs.locator("h2.customer")).to_have_text("Carol")
    expect(bobs.locator("li[data-type=transferred] .text")).to_have_text("Alice transferred the chat to you")
    expect(bobs.locator('li[data-notice="transfer-note"] .text')).to_have_text(
        "Note from Alice: Parcel 42, left the depot on Monday")
    assert message_texts(bobs) == ["my parcel is late", "Let me find who handles parcels"]
    assert_each_seq_once(bobs)

    say(bobs, "Bob here: it arrives tomorrow")
    expect_message(carol, "Bob here: it arrives tomorrow")
    say(carol, "thanks Bob")
    expect_message(bobs, "thanks Bob")
    expect(carol.locator('#transcript li[data-notice="transfer-note"]')).to_have_count(0)
    assert "Parcel 42" not in carol.locator("#transcript").inner_text()
    assert message_texts(alices) == ["my parcel is late", "Let me find who handles parcels"]
    pages.screenshot(alice, "alice-after-transfer")
    pages.screenshot(bob, "bob-after-transfer")
    pages.screenshot(carol, "carol-after-transfer")

    # Alice dismisses the chat; Bob hands it back: her desk has it again, whole and open.
    alices.locator(".dismiss").click()
    expect(alice.locator("#chats section.panel")).to_have_count(0)
    bobs.locator(".transfer-chat").click()
    bobs.locator("form.transfer select[name=to]").select_option(label="Alice (0 chats)")
    bobs.locator("form.transfer button[type=submit]").click()
    alices = panel(alice)
    expect(alices.locator("li[data-type=transferred] .text").last).to_have_text("Bob transferred the chat to you")
    expect(alices.locator("form.reply")).to_be_visible()
    expect(alices.locator(".ended")).to_be_hidden()
    say(alices, "Alice again")
    expect_message(carol, "Alice again")
    assert_each_seq_once(alices)
    expect(carol.locator("#transcript li[data-type=transferred] .text").last).to_have_text(
        "Bob transferred the chat to Alice")


def test_back_to_the_queue_with_a_note_from_the_desk(server, pages, login_agent):
    """Alice sends Carol's chat back to the queue with a note; Bob gets it with the note,
    though Alice is still available (she handed it back: another agent with room comes first)."""
    alice = login_agent(pages, server.http, "alice")
    expect(alice.locator("#status")).to_have_attribute("data-state", "open")
    alice.check("#available")
    carol = pages.open("customer", f"{server.http}/")
    start_chat(carol, "Carol")
    alices = panel(alice)
    expect(alices.locator("h2.customer")).to_have_text("Carol")
    bob = login_agent(pages, server.http, "bob")
    expect(bob.locator("#status")).to_have_attribute("data-state", "open")
    bob.check("#available")

    alices.locator(".transfer-chat").click()
    form = alices.locator("form.transfer")
    expect(form.locator("select[name=to]")).to_have_value("")
    form.locator("textarea[name=note]").fill("Wants to speak to someone in French")
    form.locator("button[type=submit]").click()
    expect(alices.locator(".ended")).to_have_text("You left this chat; it went back to the queue.")
    bobs = panel(bob)
    expect(bobs.locator('li[data-notice="transfer-note"] .text')).to_have_text(
        "Note from Alice: Wants to speak to someone in French")
    expect(carol.locator("#transcript li[data-type=joined]").filter(has_text="Bob joined")).to_have_count(1)
    expect(carol.locator('#transcript li[data-notice="transfer-note"]')).to_have_count(0)
    expect(alice.locator("#available")).to_be_checked()
    pages.screenshot(bob, "bob-from-the-queue")
