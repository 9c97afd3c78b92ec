"""A real browser (Debian's chromium, driven by Playwright's sync API) on the
pages of real chat server processes.

Each test gets its own Playwright and browser: Playwright's sync API keeps an
asyncio loop marked as running in this thread while it lives, and Django then
refuses ORM calls (SynchronousOnlyOperation) in whatever test runs beside it.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.harness import ARTIFACTS

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = ARTIFACTS / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# Long enough for a restarted server to wait out the old lease (1.5 s) and for
# the page's retries (at most about 1 s apart) to find it, on a loaded machine.
FAILOVER_TIMEOUT_MS = 15_000


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch) -> None:
    """Let the fixtures' ORM calls run while Playwright's loop is alive (see the module docstring)."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Pages:
    """Opens pages, each in its own browser context (its own cookies and
    sessionStorage), and screenshots every one of them when the test ends."""

    browser: Browser
    test_name: str
    opened: list[tuple[str, Page]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def open(self, label: str, url: str, *, cookie: str | None = None, viewport: dict | None = None) -> Page:
        context: BrowserContext = self.browser.new_context(viewport=viewport or PHONE)
        context.set_default_timeout(10_000)
        origin = "{0.scheme}://{0.netloc}".format(urlparse(url))
        if cookie:
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": origin}])
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{label}: {error}"))
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        # A module script the server does not serve (or serves with a wrong MIME
        # type) leaves a page that just never connects: say so plainly instead.
        page.on("response", lambda response: self._check_asset(label, response))
        page.goto(url)
        self.opened.append((label, page))
        return page

    def _check_asset(self, label: str, response) -> None:
        if "/static/" not in response.url:
            return
        if response.status == 304:
            return  # a reload revalidating what the browser has cached: no body, no type
        kind = response.headers.get("content-type", "")
        if response.status != 200 or (response.url.endswith(".js") and "javascript" not in kind):
            self.errors.append(f"{label}: {response.url} answered {response.status} {kind}")

    def screenshot(self, page: Page, label: str) -> Path:
        """A screenshot now, besides the ones every page gets when the test ends."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.test_name}-{label}.png"
        page.screenshot(path=path, full_page=True)
        return path

    def screenshot_all(self) -> list[Path]:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        saved = []
        for label, page in self.opened:
            path = SCREENSHOTS / f"{self.test_name}-{label}.png"
            try:
                page.screenshot(path=path, full_page=True)
                saved.append(path)
            except PlaywrightError as error:  # a crashed page must not hide the test's own failure
                warnings.warn(f"no screenshot of {label}: {error}", stacklevel=1)
        return saved


@pytest.fixture
def pages(browser: Browser, request) -> Iterator[Pages]:
    opened = Pages(browser, request.node.name)
    yield opened
    opened.screenshot_all()
    for _, page in opened.opened:
        page.context.close()
    assert not opened.errors, f"uncaught errors in the pages: {opened.errors}"


@pytest.fixture
def login_agent(agent_cookie) -> Callable[[Pages, str, str], Page]:
    """Open the agent desktop of ``username`` (made with createagent) on a server."""

    def open_desk(pages: Pages, http: str, username: str, viewport: dict | None = None) -> Page:
        return pages.open(username, f"{http}/agent/", cookie=agent_cookie(username), viewport=viewport or DESKTOP)

    return open_desk
