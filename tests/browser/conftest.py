"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, and the demo.

No browser is downloaded: Playwright launches ``/usr/bin/chromium`` (``./dev test`` installs it
through apt). The demo runs in a thread with the scenario's autoplay off, so
the page changes only when a test makes it change.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Error, Page, expect, sync_playwright

from chatops.demo import DemoOptions, DemoThread, ScenarioTiming
from tests.waiting import PATIENCE

# Playwright's waits (expect, clicks, selectors) default to 5 s; a busy machine needs more.
expect.set_options(timeout=PATIENCE * 1000)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module scope, not session: while Playwright's sync API is alive its event loop counts
    # as running in the main thread, and the rest of the suite's asyncio.run() would fail.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoThread]:
    options = DemoOptions(
        autoplay=False,
        poll_interval=timedelta(seconds=1),
        start_delay=0.2,
        # A drop lasts four polls: long enough for alerts.confirm_polls (2) to confirm it.
        timing=ScenarioTiming(recover_after=4, away_for=2, flap_for=4, storm_for=2),
        slack_deadline=PATIENCE,
    )
    with DemoThread(options) as running:
        yield running


@pytest.fixture
def page(browser: Browser, demo: DemoThread) -> Iterator[Page]:
    """The sandbox page in a fresh browser context; an uncaught script error fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(PATIENCE * 1000)
    page = context.new_page()
    errors: list[Error] = []
    page.on("pageerror", lambda error: errors.append(error))
    page.goto(demo.page_url)
    page.wait_for_selector("#connection[data-state=live]")
    yield page
    context.close()
    assert errors == [], f"the page raised: {errors}"
