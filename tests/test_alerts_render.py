"""Alert messages stay inside Slack's limits and escape what bots and people are called."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chatops.alerts import render
from chatops.blockkit.limits import violations
from chatops.domain import Health
from chatops.sandbox.slack import block_errors
from chatops.store.acks import Owner
from chatops.store.cards import BotCard
from chatops.store.models import Bot, Connector

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
NASTY = "<!channel> & <@U0ALICE> `billing` *bot* " + "é" * 400


BOT_ID = "9cef" + "x" * 150


def connector_row(
    bot_user: str, *, connector: str = "Online", server: str = "Not Connected", health: str = "down"
) -> Connector:
    return Connector(
        bot_id=BOT_ID,
        bot_user=bot_user,
        name="billing-bot-1",
        kind="custom",
        channel="messaging",
        environment="production",
        connector=connector,
        cloud="Unknown",
        server=server,
        raw_connector="ONLINE",
        raw_cloud="<weird> " * 40,
        raw_server="not-connected",
        health=health,
        health_since=NOW,
        connector_since=NOW,
        cloud_since=NOW,
        server_since=NOW,
        first_seen=NOW,
    )


def bot(
    name: str = "billing-bot-1",
    *,
    kind: str = "custom",
    connector: str = "Online",
    connectors: int = 1,
    ok: int = 0,
) -> BotCard:
    """A bot of ``connectors`` connectors, the first ``ok`` of them OK, the rest down."""
    rows = tuple(
        connector_row(f"{NASTY[:20]}_{n}", connector=connector)
        if n >= ok
        else connector_row(f"{NASTY[:20]}_{n}", server="Connected", health="ok")
        for n in range(connectors)
    )
    health = "ok" if ok == connectors else "degraded" if ok else "down"
    row = Bot(
        id=BOT_ID,
        name=name,
        kind=kind,
        channel="messaging",
        environment="production",
        health=health,
        health_since=NOW,
        connectors=connectors,
        connectors_ok=ok,
        first_seen=NOW,
    )
    return BotCard(row, rows)


def mrkdwn_texts(value: Any) -> list[str]:
    """Every string Slack parses for mentions: mrkdwn text objects (plain_text is literal)."""
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            return [value["text"]]
        return [text for item in value.values() for text in mrkdwn_texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in mrkdwn_texts(item)]
    return []


def pings(message: dict[str, Any]) -> bool:
    texts = [message["text"], *mrkdwn_texts(message["blocks"])]
    return any("<!channel>" in text or "<@U0ALICE> `" in text for text in texts)


def all_messages(subject: BotCard) -> list[dict[str, Any]]:
    since = NOW - timedelta(minutes=12)
    return [
        render.problem(subject, Health.DOWN, since, was=Health.OK, pcs_count=40, note="n"),
        render.resolved(subject, Health.DOWN, since, NOW, "recovered"),
        render.recovered_reply(subject, Health.DOWN, since, NOW),
        render.changed_reply(subject, Health.STOPPED, Health.DOWN, since),
        render.notice(subject, "stop", NASTY, NOW),
        render.flapping(subject, Health.DOWN, since, 4, timedelta(minutes=15)),
        render.flapping_over(subject, Health.OK, since, NOW, "settled"),
        render.reminder(subject, Health.DOWN, since, NOW),
        render.source_unreachable(3, NASTY * 10, since, NOW),
        render.source_unreachable(3, None, None, NOW),
        render.source_recovered_update(since, NOW, NASTY),
        render.source_reminder(since, NOW),
        render.mute_created(NASTY, "U0ALICE", NOW, timedelta(hours=2), NASTY, 3),
        render.mute_ended(NASTY, None, NOW, [(NASTY, Health.DOWN)] * 30),
    ]


@pytest.mark.parametrize("connectors", [1, 2, 10])
@pytest.mark.parametrize("kind", ["custom", "pcs"])
@pytest.mark.parametrize("name", ["billing-bot-1", NASTY])
def test_every_alert_message_fits_slack_and_pings_nobody(
    name: str, kind: str, connectors: int
) -> None:
    for message in all_messages(bot(name, kind=kind, connectors=connectors, ok=connectors // 2)):
        assert violations(message) == []
        assert block_errors(message["blocks"]) == []
        assert not pings(message)


def test_an_outage_message_has_start_stop_and_restart_as_the_bot_allows() -> None:
    online = render.problem(bot(connector="Online"), Health.DOWN, NOW)
    stopped = render.problem(bot(connector="Stopped"), Health.STOPPED, NOW)
    not_connected = render.problem(bot(connector="Not Connected"), Health.DOWN, NOW)

    def buttons(message: dict[str, Any]) -> list[str]:
        return [
            element["action_id"]
            for block in message["blocks"]
            if block["type"] == "actions"
            for element in block["elements"]
        ]

    assert buttons(online) == ["bot_stop", "bot_restart"]
    assert buttons(stopped) == ["bot_start"]
    assert buttons(not_connected) == ["bot_start", "bot_stop", "bot_restart"]
    (stop, restart) = [e for b in online["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert stop["value"] == restart["value"] == bot().id
    assert stop["confirm"]["confirm"]["text"] == "Stop"
    # The Restart of a bot's details: its confirm dialog says what stops, then starts.
    assert restart["text"]["text"] == "Restart"
    assert restart["confirm"]["title"]["text"].startswith("Restart ")
    assert restart["confirm"]["confirm"]["text"] == "Restart"
    assert "stops, then starts" in restart["confirm"]["text"]["text"]


def test_a_pcs_stop_or_restart_button_names_the_shared_connector_and_the_survey_bots() -> None:
    message = render.problem(bot("survey-1", kind="pcs"), Health.DOWN, NOW, pcs_count=12)
    (stop, restart) = [
        e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert "all 12 survey bots" in stop["confirm"]["text"]["text"]
    assert "all 12 survey bots will restart" in restart["confirm"]["text"]["text"]


@pytest.mark.parametrize("size", [6, 2000, 10_000])
def test_a_digest_counts_every_bot_and_fits_slack(size: int) -> None:
    groups = ["problem", "recovered", "flapping", "stopped_by_hand", "settled"]
    healths = [Health.DOWN, Health.UNKNOWN, Health.AWAY]
    items = [
        render.DigestItem(f"{NASTY[:30]}-{n}", groups[n % 5], healths[n % 3]) for n in range(size)
    ]
    message = render.digest(items, NOW)

    assert violations(message) == []
    assert block_errors(message["blocks"]) == []
    assert not pings(message)
    assert message["text"].startswith(f"{size:,} bot alerts")
    first = message["blocks"][0]["text"]["text"].split("\n")[1]
    counted = sum(int(part.split("*")[1].replace(",", "")) for part in first.split("   "))
    assert counted == size


def test_a_resolved_digest_keeps_its_list_under_a_banner() -> None:
    items = [render.DigestItem(f"bot-{n}", "problem", Health.DOWN) for n in range(3000)]
    original = render.digest(items, NOW)
    resolved = render.digest_resolved(original, 3000, NOW)

    assert violations(resolved) == []
    assert "All 3,000 bots of this digest resolved" in str(resolved["blocks"][0])
    assert resolved["blocks"][1:] == original["blocks"][: len(resolved["blocks"]) - 1]


def test_a_digest_reminder_counts_what_is_still_open() -> None:
    message = render.digest_reminder({Health.DOWN: 1500, Health.UNKNOWN: 3}, NOW, NOW)
    assert "*1,503* bots" in message["blocks"][0]["text"]["text"]
    assert violations(message) == []


def test_a_degraded_alert_names_the_connectors_concerned_and_their_statuses() -> None:
    card = bot("care-bot-1", connectors=2, ok=1)
    message = render.problem(card, Health.DEGRADED, NOW)

    headline = message["blocks"][0]["text"]["text"]
    assert "*care-bot-1* is *Degraded*" in headline
    assert "1 of 2 connectors" in headline
    assert "Bot Server *Not Connected*" in headline
    assert message["text"].startswith("care-bot-1 is Degraded: 1 of 2 connectors; ")
    assert message["text"].endswith(": Conversational Cloud Unknown, Bot Server Not Connected")
    listed = str(message["blocks"][1])
    assert listed.index("_1") < listed.index("_0")  # the connector that is down comes first


def test_an_alert_about_a_bot_of_many_connectors_lists_twenty_and_counts_the_rest() -> None:
    card = bot("big-bot", connectors=45, ok=40)
    message = render.problem(card, Health.DEGRADED, NOW)

    assert violations(message) == []
    text = str(message["blocks"])
    assert "5 of 45 connectors" in message["blocks"][0]["text"]["text"]
    assert "and 25 more connectors" in text


def test_a_digest_says_how_many_connectors_of_each_bot_are_not_ok() -> None:
    items = [
        render.DigestItem("care-bot-1", "problem", Health.DEGRADED, 1, 2),
        render.DigestItem("care-bot-2", "problem", Health.DOWN, 4, 4),
        render.DigestItem("solo-bot", "problem", Health.DOWN, 1, 1),
    ]
    message = render.digest(items, NOW)

    text = str(message["blocks"])
    assert "care-bot-1 (1 of 2 connectors)" in text
    assert "care-bot-2 (4 of 4 connectors)" in text
    assert "solo-bot" in text and "solo-bot (" not in text
    assert "6 connectors not OK" in message["blocks"][0]["text"]["text"]


def has_ack_button(message: dict[str, Any]) -> bool:
    return any(
        (block.get("accessory") or {}).get("action_id") == render.ACTION_ACK
        for block in message["blocks"]
    )


OWNER = Owner("U0ALICE", NOW - timedelta(minutes=3))


@pytest.mark.parametrize("connectors", [1, 2, 45])
def test_an_acknowledged_outage_names_its_owner_instead_of_its_button(connectors: int) -> None:
    card = bot("care-bot-1", connectors=connectors, ok=connectors // 2)
    unowned = render.problem(card, Health.DOWN, NOW)
    owned = render.problem(card, Health.DOWN, NOW, owner=OWNER)
    resolved = render.resolved(card, Health.DOWN, NOW, NOW, "recovered", OWNER)

    assert has_ack_button(unowned)
    assert not has_ack_button(owned) and not has_ack_button(resolved)
    assert "Acknowledged by <@U0ALICE> since" in str(owned["blocks"][1])
    assert "Acknowledged by <@U0ALICE> at" in str(resolved["blocks"][1])
    for message in (unowned, owned, resolved):
        assert violations(message) == []
        assert block_errors(message["blocks"]) == []


@pytest.mark.parametrize("size", [6, 10_000])
def test_an_acknowledged_digest_keeps_its_list_and_fits_slack(size: int) -> None:
    items = [render.DigestItem(f"{NASTY[:30]}-{n}", "problem", Health.DOWN) for n in range(size)]
    digest = render.digest(items, NOW, acknowledge=True)
    owned = render.owned(digest, OWNER)
    resolved = render.digest_resolved(digest, size, NOW, OWNER)

    assert has_ack_button(digest)
    assert not has_ack_button(render.digest(items, NOW))
    assert not has_ack_button(owned) and not has_ack_button(resolved)
    assert "Acknowledged by <@U0ALICE> since" in str(owned["blocks"][1])
    assert "Acknowledged by <@U0ALICE> at" in str(resolved["blocks"][2])
    assert render.owned(owned, OWNER) == owned  # owning twice shows one owner
    for message in (digest, owned, resolved):
        assert violations(message) == []
        assert block_errors(message["blocks"]) == []
        assert not pings(message)
