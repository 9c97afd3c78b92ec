"""inactivity-control against a real chat server: an active chat is warned then
closed with the configured texts; a message restarts the timer; a queued chat is
left alone."""
import pytest

from .harness import new_client_id, open_agent, open_customer

ALERT = "Still with us? (test)"
CLOSE = "Closed for quiet (test)"


@pytest.fixture
def inactive_server(make_application, start_server):
    """Alert after 1 quiet second, close after 2."""
    return start_server(make_application(
        inactivity_control_enabled="true", inactivity_timeout_alert="1", inactivity_timeout_close="2",
        inactivity_message_alert=ALERT, inactivity_message_close=CLOSE,
    ))
def test_an_active_chat_is_alerted_then_closed_with_the_texts_on_both_sockets(inactive_server, clients,
                                                                               agent_cookie):
    alice = open_agent(inactive_server, clients, agent_cookie, "alice")
    carol = open_customer(inactive_server, clients, "Carol")
    session_id = carol.started["session_id"]
    alice.until(type="assigned")
    for side in (carol, alice):
        alert = side.until(type="notice", notice="inactivity-alert", timeout=5)
        assert (alert["text"], alert["session_id"]) == (ALERT, session_id)
        close = side.until(type="notice", notice="inactivity-close", timeout=5)
        assert close["text"] == CLOSE
        closed = side.until(type="closed", timeout=5)
        assert closed["reason"] == "inactivity"
        assert closed["seq"] == close["seq"] + 1
        # One alert, once.
        assert [e["notice"] for e in side.events(session_id) if e["type"] == "notice"].count("inactivity-alert") == 1


def test_a_message_after_the_alert_restarts_the_timer(inactive_server, clients, agent_cookie):
    alice = open_agent(inactive_server, clients, agent_cookie, "alice")
    carol = open_customer(inactive_server, clients, "Carol")
    session_id = carol.started["session_id"]
    alice.until(type="assigned")
    carol.until(type="notice", notice="inactivity-alert", timeout=5)
    carol.send(type="message", text="yes, here", client_id=new_client_id())
    said = carol.until(type="message", text="yes, here")
    # The old close was due within a second of the alert: not at that time any more,
    # but a new alert a second after the message, then the close.
    second = carol.until(type="notice", notice="inactivity-alert", timeout=5)
    assert second["seq"] > said["seq"]
    close = carol.until(type="notice", notice="inactivity-close", timeout=5)
    kinds = [(e["type"], e.get("notice")) for e in carol.events(session_id) if e["seq"] > said["seq"]]
    assert kinds[0] == ("notice", "inactivity-alert"), kinds
    assert close["seq"] > second["seq"]


def test_a_queued_chat_is_never_alerted_nor_closed(inactive_server, clients):
    carol = open_customer(inactive_server, clients, "Carol")
    carol.until(type="notice", notice="queued")
    got = carol.quiet(seconds=4)  # twice the close time, with no agent anywhere
    assert [f for f in got if f.get("type") == "closed" or str(f.get("notice", "")).startswith("inactivity")] == []
    carol.send(type="message", text="anyone?", client_id=new_client_id())
    assert carol.until(type="message", text="anyone?")
