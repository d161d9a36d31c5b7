"""A maintenance window from the sandbox page's message box, in Chromium: it silences a
connector drop, it ends (cancelled from the message box, so no test waits for a clock), and
the bot still broken is alerted once, after the end message that names it."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect
from sqlmodel import select

from chatops.demo import DemoThread
from chatops.store.models import PollRun
from tests.browser.test_sandbox_page import ALERTS, act_as, latest_message, open_channel
from tests.browser.test_sandbox_page import type_command as send
from tests.fleet import healthy_bots
from tests.waiting import wait_until

pytestmark = pytest.mark.browser


def announced_down(demo: DemoThread, bot_id: str) -> bool:
    """The policy confirmed the bot's outage (it alerts unless something silences it)."""
    from chatops.store.alert_state import state_rows

    async def read() -> bool:
        async with demo.demo.runtime.sessions() as session:
            row = (await state_rows(session, [bot_id])).get(bot_id)
        return row is not None and '"announced":"down"' in row.state

    return bool(demo.run(read()))


def polls(demo: DemoThread) -> int:
    async def read() -> int:
        async with demo.demo.runtime.sessions() as session:
            return int((await session.exec(select(sa.func.count()).select_from(PollRun))).one())

    return int(demo.run(read()))


def test_a_window_silences_a_drop_and_at_its_end_the_broken_bot_alerts_once(
    page: Page, demo: DemoThread
) -> None:
    fake = demo.demo.fake_lp
    bot = next(b for b in healthy_bots(fake) if not b["botName"].startswith("survey"))
    name, bot_id = bot["botName"], bot["botId"]
    open_channel(page, ALERTS)
    act_as(page, "alice")

    send(page, f"/botstatus maintenance {name} now 1h switch upgrade")
    reply = latest_message(page, "Maintenance window", surface="ephemeral")
    match = re.search(r"#(\d+)", reply.inner_text())
    assert match is not None
    window = match.group(1)
    began = latest_message(page, f"Maintenance of {name} began", surface="channel")
    expect(began).to_contain_text("switch upgrade")

    try:
        fake.set_fields(bot_id, cbSocketStatus="NOT_CONNECTED")
        wait_until(lambda: announced_down(demo, bot_id), what=f"{name}'s outage confirmed")
        send(page, f"/botstatus {name}")
        details = latest_message(page, "In maintenance until", surface="ephemeral")
        expect(details).to_contain_text("switch upgrade")
        alerts = page.locator('.message[data-surface="channel"]').filter(has_text=f"{name} is Down")
        expect(alerts).to_have_count(0)

        send(page, f"/botstatus maintenance cancel {window}")
        latest_message(page, "ended now", surface="ephemeral")
        # Case matters: the alert itself says "the maintenance of ... ended" too.
        ended = page.locator('.message[data-surface="channel"]').filter(
            has_text=re.compile(f"Maintenance of {re.escape(name)} ended")
        )
        expect(ended).to_contain_text(f"{name}: Down (alerted now)")
        expect(alerts).to_have_count(1)
        expect(alerts).to_contain_text("Bot Server")
        # Later polls add nothing: the alert stands once while the bot stays down.
        seen = polls(demo)
        wait_until(lambda: polls(demo) >= seen + 3, what="three more polls")
        expect(alerts).to_have_count(1)
    finally:
        fake.set_fields(bot_id, cbSocketStatus="CONNECTED")
