"""What the browser tests do on and read from the two pages."""
from __future__ import annotations

from typing import Any

from playwright.sync_api import Locator, Page, expect

ITEMS_JS = """items => items.map(li => ({
    seq: Number(li.dataset.seq), type: li.dataset.type, notice: li.dataset.notice || null,
    who: li.querySelector('.who')?.textContent ?? null, text: li.querySelector('.text').textContent,
}))"""


def events(root: Page | Locator) -> list[dict[str, Any]]:
    """The transcript lines a page (or one agent panel) shows, top to bottom."""
    return root.locator("ol.transcript li[data-seq]").evaluate_all(ITEMS_JS)


def message_texts(root: Page | Locator) -> list[str]:
    return [item["text"] for item in events(root) if item["type"] == "message"]


def assert_each_seq_once(root: Page | Locator) -> list[dict[str, Any]]:
    shown = events(root)
    assert [item["seq"] for item in shown] == list(range(1, len(shown) + 1)), shown
    return shown


def start_chat(page: Page, nickname: str, subject: str = "") -> None:
    page.fill("#start input[name=nickname]", nickname)
    page.fill("#start input[name=subject]", subject)
    page.click("#start button")
    expect(page.locator("#chat")).to_be_visible()


def say(root: Page | Locator, text: str) -> None:
    """Type a message (key by key, so the typing notice goes out) and send it."""
    box = root.locator("form.reply input, form#send input").first
    box.press_sequentially(text)
    box.press("Enter")


def expect_message(root: Page | Locator, text: str, timeout: float = 10_000) -> None:
    expect(root.locator("ol.transcript li[data-type=message] .text").filter(has_text=text)).to_have_count(
        1, timeout=timeout
    )


def panel(page: Page, session_id: str | None = None) -> Locator:
    """An agent's chat panel: the one of ``session_id``, or the only one."""
    if session_id is None:
        return page.locator("#chats section.panel").first
    return page.locator(f"#chats section.panel[data-session='{session_id}']")


def customer_session(page: Page) -> dict[str, Any]:
    return page.evaluate("JSON.parse(sessionStorage.getItem('chat.customer'))")
