"""Status dimensions, normalisation of raw spellings, bot attributes and derived health."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatops.domain import (
    BotKind,
    Channel,
    Cloud,
    ConnectorStatus,
    Dimension,
    Environment,
    Health,
    Server,
    Snapshot,
    StatusValue,
    health,
    normalise_key,
    parse_channel,
    parse_cloud,
    parse_connector,
    parse_environment,
    parse_kind,
    parse_server,
)

# The seed's tables (seed/bots-status-overview.md), copied by hand so a typo in the code
# cannot also be a typo in the expectation.
SEED_CONNECTOR = ["Not Connected", "Ready to Start", "Online", "Stopped"]
SEED_CLOUD = ["Not Connected", "Connected", "Online", "Offline", "Away"]
SEED_SERVER = ["Not Connected", "Connected"]

PARSERS = {
    Dimension.CONNECTOR: (parse_connector, ConnectorStatus, SEED_CONNECTOR),
    Dimension.CLOUD: (parse_cloud, Cloud, SEED_CLOUD),
    Dimension.SERVER: (parse_server, Server, [*SEED_SERVER, "N/A"]),
}
KNOWN_KEYS = {
    Dimension.CONNECTOR: {"not connected", "ready to start", "online", "stopped"},
    Dimension.CLOUD: {"not connected", "connected", "online", "offline", "away"}
    | {"n/a", "na", "n a"},
    Dimension.SERVER: {"not connected", "connected", "n/a", "na", "n a"},
}

SEPARATOR_CHARS = [" ", "_", "-", "\t", "  ", "__", "-_ "]


@st.composite
def respelled(draw: st.DrawFn, display: str) -> str:
    """``display`` in any letter case, its words joined by any run of separators."""
    words = re.split(r"\s+", display)
    cased = [
        "".join(draw(st.sampled_from([ch.lower(), ch.upper()])) for ch in word) for word in words
    ]
    separators = [draw(st.sampled_from(SEPARATOR_CHARS)) for _ in words[1:]]
    spelled = cased[0] + "".join(
        sep + word for sep, word in zip(separators, cased[1:], strict=True)
    )
    padding = st.sampled_from(["", " ", "_", "-", "\n"])
    return draw(padding) + spelled + draw(padding)


def any_display(values: list[str]) -> st.SearchStrategy[tuple[str, str]]:
    return st.sampled_from(values).flatmap(lambda v: st.tuples(st.just(v), respelled(v)))


def test_connector_display_strings_are_the_seeds_to_the_letter() -> None:
    assert [c.value for c in ConnectorStatus if c is not ConnectorStatus.UNKNOWN] == SEED_CONNECTOR


def test_cloud_display_strings_are_the_seeds_plus_not_applicable() -> None:
    shown = [c.value for c in Cloud if c not in (Cloud.UNKNOWN, Cloud.NOT_APPLICABLE)]
    assert shown == SEED_CLOUD
    assert Cloud.NOT_APPLICABLE.value == "N/A"


def test_server_display_strings_are_the_seeds_plus_not_applicable() -> None:
    shown = [s.value for s in Server if s not in (Server.UNKNOWN, Server.NOT_APPLICABLE)]
    assert shown == SEED_SERVER
    assert Server.NOT_APPLICABLE.value == "N/A"


def test_every_dimension_has_an_unknown_spelled_unknown() -> None:
    assert ConnectorStatus.UNKNOWN.value == Cloud.UNKNOWN.value == Server.UNKNOWN.value == "Unknown"


def test_dimension_labels_are_the_seeds_headings() -> None:
    assert [d.label for d in Dimension] == [
        "Bot Agent Connector",
        "Conversational Cloud",
        "Bot Server",
    ]


def test_bot_attributes_have_the_seeds_labels() -> None:
    assert [k.label for k in BotKind] == ["Custom", "PCS"]
    assert [c.label for c in Channel] == ["Messaging", "Chat"]
    assert [e.label for e in Environment] == ["Production", "Demo"]


def test_demo_is_called_staging_at_the_source() -> None:
    assert Environment.PRODUCTION.source_name == "PRODUCTION"
    assert Environment.DEMO.source_name == "STAGING"


@given(any_display(SEED_CONNECTOR))
def test_every_connector_spelling_parses_to_its_display_value(case: tuple[str, str]) -> None:
    display, raw = case
    assert parse_connector(raw).value == display


@given(any_display([*SEED_CLOUD, "N/A"]))
def test_every_cloud_spelling_parses_to_its_display_value(case: tuple[str, str]) -> None:
    display, raw = case
    assert parse_cloud(raw).value == display


@given(any_display([*SEED_SERVER, "N/A"]))
def test_every_server_spelling_parses_to_its_display_value(case: tuple[str, str]) -> None:
    display, raw = case
    assert parse_server(raw).value == display


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("NOT_CONNECTED", ConnectorStatus.NOT_CONNECTED),
        ("not-connected", ConnectorStatus.NOT_CONNECTED),
        ("Not  Connected", ConnectorStatus.NOT_CONNECTED),
        ("READY_TO_START", ConnectorStatus.READY_TO_START),
        ("ONLINE", ConnectorStatus.ONLINE),
        ("stopped", ConnectorStatus.STOPPED),
    ],
)
def test_it_reads_the_spellings_the_source_uses(raw: str, expected: ConnectorStatus) -> None:
    assert parse_connector(raw) is expected


@pytest.mark.parametrize("raw", ["N/A", "n/a", "NA", "na", "n-a", "N_A"])
def test_not_applicable_has_several_spellings(raw: str) -> None:
    assert parse_cloud(raw) is Cloud.NOT_APPLICABLE
    assert parse_server(raw) is Server.NOT_APPLICABLE


@pytest.mark.parametrize(
    "raw", ["", "   ", "Unknown", "OFFLINE_NOW", "Connectd", "Online!", "N/A", "ready"]
)
def test_an_unlisted_connector_spelling_is_unknown(raw: str) -> None:
    assert parse_connector(raw) is ConnectorStatus.UNKNOWN


def test_a_missing_value_is_unknown() -> None:
    assert parse_connector(None) is ConnectorStatus.UNKNOWN
    assert parse_cloud(None) is Cloud.UNKNOWN
    assert parse_server(None) is Server.UNKNOWN


def test_a_value_of_another_dimension_is_unknown_in_this_one() -> None:
    assert parse_server("Away") is Server.UNKNOWN
    assert parse_server("Online") is Server.UNKNOWN
    assert parse_connector("Connected") is ConnectorStatus.UNKNOWN


@given(st.sampled_from(list(Dimension)), st.text(max_size=30))
def test_any_other_text_is_unknown(dimension: Dimension, raw: str) -> None:
    parse, enum, _ = PARSERS[dimension]
    parsed: StatusValue = parse(raw)
    if normalise_key(raw) in KNOWN_KEYS[dimension]:
        assert parsed.value != "Unknown"
    else:
        assert parsed is enum("Unknown")


@given(st.text(max_size=30), st.text(max_size=30), st.text(max_size=30))
def test_a_snapshot_keeps_the_raw_strings_it_was_given(
    raw_connector: str, raw_cloud: str, raw_server: str
) -> None:
    snapshot = Snapshot(
        bot_id="b1",
        name="Billing Bot",
        kind=BotKind.CUSTOM,
        channel=Channel.MESSAGING,
        environment=Environment.PRODUCTION,
        raw_connector=raw_connector,
        raw_cloud=raw_cloud,
        raw_server=raw_server,
    )
    assert [snapshot.raw(d) for d in Dimension] == [raw_connector, raw_cloud, raw_server]
    assert snapshot.connector is parse_connector(raw_connector)
    assert snapshot.cloud is parse_cloud(raw_cloud)
    assert snapshot.server is parse_server(raw_server)


def test_an_unknown_spelling_stays_visible_in_the_snapshot() -> None:
    snapshot = Snapshot(
        bot_id="b1",
        name="Billing Bot",
        kind=BotKind.CUSTOM,
        channel=Channel.MESSAGING,
        environment=Environment.PRODUCTION,
        raw_connector="HIBERNATING",
        raw_cloud="connected",
        raw_server="CONNECTED",
    )
    assert snapshot.value(Dimension.CONNECTOR) is ConnectorStatus.UNKNOWN
    assert snapshot.raw(Dimension.CONNECTOR) == "HIBERNATING"
    assert snapshot.health is Health.UNKNOWN


@given(st.text(max_size=40))
def test_normalising_twice_changes_nothing(raw: str) -> None:
    assert normalise_key(normalise_key(raw)) == normalise_key(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("POST_SURVEY_BOT", BotKind.PCS),
        ("pcs", BotKind.PCS),
        ("Post-Conversation Survey", BotKind.PCS),
        ("CUSTOM_BOT", BotKind.CUSTOM),
        ("", BotKind.CUSTOM),
        (None, BotKind.CUSTOM),
    ],
)
def test_it_tells_pcs_bots_from_custom_bots(raw: str | None, expected: BotKind) -> None:
    assert parse_kind(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("chat", Channel.CHAT),
        ("CHAT", Channel.CHAT),
        ("messaging", Channel.MESSAGING),
        ("MESSAGING", Channel.MESSAGING),
        (None, Channel.MESSAGING),
    ],
)
def test_it_reads_the_channel_with_messaging_as_the_default(
    raw: str | None, expected: Channel
) -> None:
    assert parse_channel(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("PRODUCTION", Environment.PRODUCTION),
        ("STAGING", Environment.DEMO),
        ("demo", Environment.DEMO),
        ("Demo", Environment.DEMO),
        (None, Environment.PRODUCTION),
    ],
)
def test_it_reads_the_environment_with_production_as_the_default(
    raw: str | None, expected: Environment
) -> None:
    assert parse_environment(raw) is expected


# Health, written out from ARCHITECTURE.md section 1. A connector that is not Online decides
# alone; an Online connector is judged by its two connections. Precedence, worst first: a
# connection known to be down, then a connection we cannot read, then agents away.
OK, AWAY, DOWN, UNKNOWN = Health.OK, Health.AWAY, Health.DOWN, Health.UNKNOWN
NOT_ONLINE = {
    ConnectorStatus.NOT_CONNECTED: Health.DOWN,
    ConnectorStatus.READY_TO_START: Health.READY,
    ConnectorStatus.STOPPED: Health.STOPPED,
    ConnectorStatus.UNKNOWN: Health.UNKNOWN,
}
SERVER_COLUMNS = (Server.CONNECTED, Server.NOT_CONNECTED, Server.NOT_APPLICABLE, Server.UNKNOWN)
# fmt: off
ONLINE_GRID = {
    # cloud \ server:     Connected  Not Conn.  N/A      Unknown
    Cloud.CONNECTED:      (OK,       DOWN,      OK,      UNKNOWN),
    Cloud.ONLINE:         (OK,       DOWN,      OK,      UNKNOWN),
    Cloud.NOT_CONNECTED:  (DOWN,     DOWN,      DOWN,    DOWN),
    Cloud.OFFLINE:        (DOWN,     DOWN,      DOWN,    DOWN),
    Cloud.AWAY:           (AWAY,     DOWN,      AWAY,    UNKNOWN),
    Cloud.NOT_APPLICABLE: (OK,       DOWN,      OK,      UNKNOWN),
    Cloud.UNKNOWN:        (UNKNOWN,  DOWN,      UNKNOWN, UNKNOWN),
}
# fmt: on


def expected_health(connector: ConnectorStatus, cloud: Cloud, server: Server) -> Health:
    if connector is not ConnectorStatus.ONLINE:
        return NOT_ONLINE[connector]
    return ONLINE_GRID[cloud][SERVER_COLUMNS.index(server)]


def test_the_health_table_covers_every_value() -> None:
    assert set(NOT_ONLINE) | {ConnectorStatus.ONLINE} == set(ConnectorStatus)
    assert set(ONLINE_GRID) == set(Cloud)
    assert set(SERVER_COLUMNS) == set(Server)


def test_health_matches_the_table_for_every_combination() -> None:
    mismatches = [
        (connector, cloud, server, health(connector, cloud, server))
        for connector, cloud, server in itertools.product(ConnectorStatus, Cloud, Server)
        if health(connector, cloud, server) is not expected_health(connector, cloud, server)
    ]
    assert mismatches == []


def test_down_wins_when_cloud_is_away_and_server_is_not_connected() -> None:
    assert health(ConnectorStatus.ONLINE, Cloud.AWAY, Server.NOT_CONNECTED) is Health.DOWN


def test_unknown_wins_over_away_when_the_server_cannot_be_read() -> None:
    assert health(ConnectorStatus.ONLINE, Cloud.AWAY, Server.UNKNOWN) is Health.UNKNOWN


def test_a_known_outage_wins_over_an_unreadable_connection() -> None:
    assert health(ConnectorStatus.ONLINE, Cloud.UNKNOWN, Server.NOT_CONNECTED) is Health.DOWN


def test_a_stopped_connector_is_stopped_whatever_its_connections_say() -> None:
    healths = {health(ConnectorStatus.STOPPED, c, s) for c, s in itertools.product(Cloud, Server)}
    assert healths == {Health.STOPPED}


def test_ok_is_the_only_health_that_is_not_a_problem() -> None:
    assert [h for h in Health if not h.is_problem] == [Health.OK]


def test_down_is_the_most_urgent_health_and_ok_the_least() -> None:
    by_urgency = sorted(Health, key=lambda h: h.severity)
    assert by_urgency[0] is Health.DOWN
    assert by_urgency[-1] is Health.OK
    assert by_urgency.index(Health.AWAY) > by_urgency.index(Health.STOPPED)


def test_every_health_has_a_label_and_an_emoji() -> None:
    labels = {h.label for h in Health}
    assert labels == {"OK", "Degraded", "Away", "Down", "Stopped", "Ready to Start", "Unknown"}
    assert all(h.emoji.startswith(":") and h.emoji.endswith(":") for h in Health)
