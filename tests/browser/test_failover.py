"""The pages ride out a dead server: they reconnect, resume and re-send."""
import uuid

from playwright.sync_api import expect

from tests.conftest import run_switchover
from tests.harness import wait_for
from tests.test_failover import figure, scrape

from .conftest import FAILOVER_TIMEOUT_MS
from .pagekit import (
    assert_each_seq_once,
    events,
    expect_message,
    message_texts,
    panel,
    say,
    start_chat,
)


def test_the_customer_page_survives_a_kill_9_and_restart_of_its_server(make_application, start_server, pages,
                                                                        login_agent):
    """The server dies mid-chat and returns at epoch 2; both pages resume, and what was typed meanwhile arrives once."""
    application = make_application(session_restoration_mode="simple")
    first = start_server(application)
    desk = login_agent(pages, first.http, "alice")
    desk.check("#available")
    carol = pages.open("customer", f"{first.http}/")
    start_chat(carol, "Carol", "outage")
    chat = panel(desk)
    say(carol, "before the crash")
    expect_message(chat, "before the crash")
    expect(carol.locator("#epoch")).to_have_text("1")

    first.kill()
    for page in (carol, desk):
        expect(page.locator("#status")).to_have_attribute("data-state", "waiting")
    say(carol, "typed while it was down")
    say(chat, "agent typed while down")
    expect(carol.locator("#outbox li.pending")).to_have_count(1)

    start_server(application)  # waits out the dead one's lease, then serves at a higher epoch
    for root in (carol, chat):
        expect_message(root, "typed while it was down", timeout=FAILOVER_TIMEOUT_MS)
        expect_message(root, "agent typed while down", timeout=FAILOVER_TIMEOUT_MS)
    for page in (carol, desk):
        expect(page.locator("#status")).to_have_attribute("data-state", "open")
        expect(page.locator("#epoch")).to_have_text("2")
    expect(carol.locator("#outbox li")).to_have_count(0)
    expect(carol.locator("#transcript li[data-type=reconnected]")).to_have_count(2)

    say(chat, "all good again")
    expect_message(carol, "all good again")
    say(carol, "great")
    expect_message(chat, "great")
    carol.wait_for_timeout(300)  # a second copy of anything would be here by now

    for root in (carol, chat):
        texts = message_texts(root)
        # The two pages re-send in whichever order they found the server again.
        assert texts[0] == "before the crash" and texts[3:] == ["all good again", "great"], texts
        assert sorted(texts[1:3]) == ["agent typed while down", "typed while it was down"], texts
        shown = assert_each_seq_once(root)
        kinds = [item["type"] for item in shown]
        assert kinds.count("disconnected") == 2 and kinds.count("reconnected") == 2, shown
    assert [(i["seq"], i["type"]) for i in events(carol)] == [(i["seq"], i["type"]) for i in events(chat)]


def test_the_pages_move_to_the_backup_when_the_primary_is_killed(make_application, start_server, pages, login_agent):
    """Loaded from the primary, both pages find the backup through the topology API once the primary dies."""
    options = {"session_restoration_mode": "simple"}
    pair = f"pair-{uuid.uuid4().hex[:6]}"
    primary_app = make_application(pair=pair, role="primary", **options)
    backup_app = make_application(pair=pair, role="backup", **options)
    primary = start_server(primary_app)
    backup = start_server(backup_app, serving=False)
    desk = login_agent(pages, primary.http, "alice")
    desk.check("#available")
    carol = pages.open("customer", f"{primary.http}/")
    start_chat(carol, "Carol", "failover")
    chat = panel(desk)
    say(carol, "on the primary")
    expect_message(chat, "on the primary")
    expect(carol.locator("#server")).to_contain_text(primary_app.name)
    # Each page keeps a standby socket to the backup, and resumes on it.
    wait_for(lambda: figure(scrape(backup), "chat_standby_sockets") == 2, 10, "both pages' standby sockets")

    primary.kill()
    say(carol, "sent during the takeover")
    for page in (carol, desk):
        expect(page.locator("#server")).to_contain_text(backup_app.name, timeout=FAILOVER_TIMEOUT_MS)
        expect(page.locator("#epoch")).to_have_text("2")
    expect_message(chat, "sent during the takeover", timeout=FAILOVER_TIMEOUT_MS)
    say(chat, "hello from the backup")
    expect_message(carol, "hello from the backup")

    for root in (carol, chat):
        assert message_texts(root) == ["on the primary", "sent during the takeover", "hello from the backup"]
        assert_each_seq_once(root)
    figures = scrape(backup)
    taken_up = [figure(figures, "chat_standby_sockets_taken_up_total", outcome=outcome)
                for outcome in ("served", "refused")]
    assert taken_up == [2, 0], f"standby sockets taken up (served, refused): {taken_up}"
    # The operator's count of who came back: the customer and the agent, once each.
    assert [figure(figures, "chat_resumes_total", role=role) for role in ("customer", "agent")] == [1, 1]
    assert backup.process.poll() is None


def test_a_topology_answer_that_lands_after_the_resume_does_not_take_the_epoch_back(make_application, start_server,
                                                                                   pages):
    """A page that resumes on its standby reads the member's topology at once, while
    the member may still be taking over; that answer (the old epoch) can land after
    the ``resumed`` frame that names the new one. The page keeps the newer epoch."""
    pair = f"pair-{uuid.uuid4().hex[:6]}"
    primary = start_server(make_application(pair=pair, role="primary", session_restoration_mode="simple"))
    backup_app = make_application(pair=pair, role="backup", session_restoration_mode="simple")
    backup = start_server(backup_app, serving=False)
    carol = pages.open("customer", f"{primary.http}/")
    start_chat(carol, "Carol", "epoch")
    expect(carol.locator("#epoch")).to_have_text("1")
    wait_for(lambda: figure(scrape(backup), "chat_standby_sockets") == 1, 10, "the page's standby socket")
    held = []  # the backup's topology answers, held until the resume has been answered
    carol.route(f"{backup.http}/api/ha/topology", lambda route: held.append(route))

    primary.kill()
    expect(carol.locator("#epoch")).to_have_text("2", timeout=FAILOVER_TIMEOUT_MS)  # the resumed frame
    # Playwright runs a route's handler only while this thread is in one of its calls.
    wait_for(lambda: carol.evaluate("1") and held, 10, "the page's topology request to the backup")
    for route in held:
        answer = route.fetch()
        stale = {**answer.json(), "epoch": 1}  # as the member answered while still taking over
        route.fulfill(response=answer, json=stale)
    # The member's name comes from the topology answer only: once shown, the page has read it.
    expect(carol.locator("#server")).to_contain_text(backup_app.name, timeout=FAILOVER_TIMEOUT_MS)
    expect(carol.locator("#epoch")).to_have_text("2")


def test_the_pages_follow_a_switchover_and_say_so(make_application, start_server, pages, login_agent, redis_url):
    """ha_switchover moves the pair to the backup; both pages show the notice and carry on there."""
    pair = f"pair-{uuid.uuid4().hex[:6]}"
    primary_app = make_application(pair=pair, role="primary", session_restoration_mode="simple")
    backup_app = make_application(pair=pair, role="backup", session_restoration_mode="simple")
    primary = start_server(primary_app)
    start_server(backup_app, serving=False)
    desk = login_agent(pages, primary.http, "alice")
    desk.check("#available")
    carol = pages.open("customer", f"{primary.http}/")
    start_chat(carol, "Carol", "switchover")
    chat = panel(desk)
    say(carol, "before")
    expect_message(chat, "before")

    switched = run_switchover(pair, redis_url)
    assert switched.returncode == 0, switched.stdout + switched.stderr
    for page in (carol, desk):
        expect(page.locator("#server")).to_contain_text(backup_app.name, timeout=FAILOVER_TIMEOUT_MS)
        expect(page.locator("#status")).to_have_attribute("data-state", "open")
    for root in (carol, chat):
        expect(root.locator("li[data-notice=switchover]")).to_have_count(1)
    say(carol, "after")
    expect_message(chat, "after")
    say(chat, "still here")
    expect_message(carol, "still here")
    for root in (carol, chat):
        assert message_texts(root) == ["before", "after", "still here"]
        assert_each_seq_once(root)
