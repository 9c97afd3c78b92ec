"""The wait estimate as the customer page shows it: the place in the queue and
the estimated wait, updated as the queue moves."""
import re

from playwright.sync_api import expect

from ..harness import Client, open_customer
from .pagekit import start_chat


def test_the_customer_page_shows_the_place_and_the_estimated_wait_as_the_queue_moves(
        make_application, start_server, pages, clients, agent_cookie):
    """Alice holds one chat at a time: she answers Ann, Bea waits, then Carol on the
    page is second with an estimate; when Alice closes Ann's chat, Carol is next,
    with a shorter estimate; when Alice closes Bea's, Carol is answered."""
    server = start_server(make_application(agent_capacity="1"))
    alice = Client.open(f"{server.ws}/ws/agent/", cookie=agent_cookie("alice"))
    clients.append(alice)
    alice.send(type="ready")
    ann = open_customer(server, clients, "Ann")
    alice.until(type="assigned", session_id=ann.started["session_id"])
    bea = open_customer(server, clients, "Bea")
    bea.until(type="notice", notice="queued")

    carol = pages.open("customer", f"{server.http}/")
    start_chat(carol, "Carol")
    place = carol.locator("#place")
    expect(place).to_have_text(re.compile(
        r"^You are number 2 in the queue; estimated wait (about \d+ minutes?|less than a minute)$"))
    second = int(place.get_attribute("data-estimated-wait-s"))
    pages.screenshot(carol, "customer-second-in-line-with-estimate")

    alice.send(type="close", session_id=ann.started["session_id"])
    expect(place).to_have_text(re.compile(
        r"^You are number 1 in the queue; estimated wait (about \d+ minutes?|less than a minute)$"))
    assert int(place.get_attribute("data-estimated-wait-s")) < second
    pages.screenshot(carol, "customer-next-in-line-with-estimate")

    alice.until(type="assigned", session_id=bea.started["session_id"])
    alice.send(type="close", session_id=bea.started["session_id"])
    expect(carol.locator("#transcript li[data-type=joined]").filter(has_text="Alice joined")).to_have_count(1)
    expect(place).to_be_hidden()
