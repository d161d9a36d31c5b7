"""Make the README's screenshots from the sandbox page, so that they show what the code does.

    .venv/bin/python scripts/screenshots.py                  # starts its own demo
    .venv/bin/python scripts/screenshots.py --url http://127.0.0.1:8080   # a running demo

Drives Debian's Chromium (``/usr/bin/chromium``, never a downloaded browser) through
Playwright, only through the page as a person would: persona menu, message box, buttons.
Writes ``docs/screenshots/*.png`` (``--out`` to change) and prints each file it wrote.
The channel screenshot of alerts is made only if the app posts an alert within the wait
(the demo's alerts channel is ``#alerts``); the script says so when it does not.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Page, ViewportSize, expect, sync_playwright

from chatops.demo import DemoOptions, DemoThread

ROOT = Path(__file__).resolve().parent.parent
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
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
ALERT_WAIT_MS = 30_000


@contextmanager
def demo_url(url: str | None) -> Iterator[str]:
    if url:
        yield url.rstrip("/") + "/sandbox/"
        return
    # The scenario waits for our clicks, so every run shows the same story.
    options = DemoOptions(autoplay=False, poll_interval=timedelta(seconds=2))
    with DemoThread(options) as running:
        yield running.page_url


def as_persona(page: Page, name: str) -> None:
    page.select_option("#persona", name)


def command(page: Page, text: str) -> None:
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")
    expect(page.locator("#composer-input")).to_have_value("")


def channel(page: Page, channel_id: str) -> None:
    page.click(f'.nav-item[data-view="{channel_id}"]')
    expect(page.locator("#messages")).to_have_attribute("data-view", channel_id)


def shoot(page: Page, out: Path, name: str) -> None:
    path = out / name
    page.wait_for_timeout(150)  # let fonts and the last render settle
    page.screenshot(path=str(path))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def make_screenshots(page: Page, out: Path) -> list[str]:
    """Returns the names of screenshots it could not make, with the reason."""
    missing: list[str] = []
    channel(page, "C0GENERAL")
    as_persona(page, "alice")
    command(page, "/botstatus")
    expect(page.locator(".message.ephemeral").last).to_contain_text("Bots Status")
    shoot(page, out, "botstatus-summary.png")

    command(page, "/botstatus billing-bot-1")
    reply = page.locator(".message.ephemeral").filter(has_text="Bot Agent Connector").last
    expect(reply).to_be_visible()
    shoot(page, out, "bot-details.png")

    reply.get_by_role("button", name="Stop").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    shoot(page, out, "stop-confirm.png")
    page.get_by_role("dialog").get_by_role("button", name="Stop").click()
    expect(page.locator(".message.ephemeral").last).to_contain_text("@alice stopped")
    shoot(page, out, "stopped-by-alice.png")

    command(page, "/botstatus faq-bot-2")
    page.locator(".message.ephemeral").filter(has_text="faq-bot-2").last.get_by_role(
        "button", name="Share in channel"
    ).click()
    shared = page.locator('.message[data-surface="channel"]').filter(has_text="faq-bot-2").last
    expect(shared).to_be_visible()
    as_persona(page, "bob")
    shared.get_by_role("button", name="Stop").click()
    page.get_by_role("dialog").get_by_role("button", name="Stop").click()
    expect(page.locator(".message.ephemeral").last).to_contain_text("You need the stop permission")
    shoot(page, out, "refused-bob.png")

    as_persona(page, "alice")
    page.click("#nav-home")
    expect(page.locator("#messages .home")).to_contain_text("Production")
    shoot(page, out, "app-home.png")

    channel(page, "C0ALERTS")
    page.click('.scenario-button[data-event="server_drop"]')
    alert = page.locator('.message[data-surface="channel"]').filter(has_text="is Down")
    try:
        expect(alert.first).to_be_visible(timeout=ALERT_WAIT_MS)
    except AssertionError:
        missing.append(f"alerts.png: no alert in #alerts within {ALERT_WAIT_MS // 1000} s")
    else:
        shoot(page, out, "alerts.png")
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", help="a running demo (default: start one here)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"screenshots: {CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with demo_url(args.url) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url)
        page.wait_for_selector("#connection[data-state=live]")
        missing = make_screenshots(page, args.out)
        browser.close()
    for reason in missing:
        print(f"not made: {reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
