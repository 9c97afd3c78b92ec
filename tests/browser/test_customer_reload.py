"""A reload of the customer page resumes its chat from sessionStorage."""
from playwright.sync_api import expect

from tests.harness import new_client_id

from .pagekit import (
    assert_each_seq_once,
    customer_session,
    expect_message,
    message_texts,
    say,
    start_chat,
)


def test_a_reload_of_the_customer_page_keeps_the_chat_and_shows_each_message_once(server, pages, agent):
    """Carol reloads twice mid-chat: the page resumes after its last seq and shows every event once."""
    alice = agent("alice")
    carol = pages.open("customer", f"{server.http}/")
    start_chat(carol, "Carol", "refund")
    session_id = alice.until(type="assigned")["session_id"]
    say(carol, "first")
    alice.until(type="message", text="first")
    alice.send(type="message", session_id=session_id, text="second", client_id=new_client_id())
    expect_message(carol, "second")
    kept = customer_session(carol)
    assert kept["session_id"] == session_id and kept["token"] and kept["participant_id"]

    carol.reload()
    expect(carol.locator("#status")).to_have_attribute("data-state", "open")
    resumed = alice.until(type="reconnected")  # Carol's page dropped and came back
    assert resumed["nickname"] == "Carol"
    alice.send(type="message", session_id=session_id, text="third", client_id=new_client_id())
    expect_message(carol, "third")
    say(carol, "fourth")
    alice.until(type="message", text="fourth")

    carol.reload()
    expect(carol.locator("#status")).to_have_attribute("data-state", "open")
    alice.send(type="message", session_id=session_id, text="fifth", client_id=new_client_id())
    expect_message(carol, "fifth")
    alice.until(type="message", text="fifth")
    carol.wait_for_timeout(300)  # anything sent twice would be here by now

    assert message_texts(carol) == ["first", "second", "third", "fourth", "fifth"]
    shown = assert_each_seq_once(carol)
    server_seqs = [event["seq"] for event in alice.events(session_id)]
    assert [item["seq"] for item in shown] == server_seqs
    assert [item["type"] for item in shown].count("reconnected") == 2
    expect(carol.locator("#subject")).to_have_text("About: refund")
