"""The pure parser of LivePerson's status entries (chatops/sources/liveperson/parse.py).

Real lists are untidy: connectors in any order, optional fields missing, odd JSON types,
entries listed twice, spellings nobody documented. Whatever comes, the parser never
crashes, keys every connector by (bot id, bot user), and gives the same fleet for the same
entries in any order.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from chatops.domain import (
    BotKind,
    Cloud,
    ConnectorStatus,
    Environment,
    Health,
    Server,
)
from chatops.sources.liveperson.parse import (
    MISSING,
    PlatformBot,
    entry_health,
    parse_fleet,
    snapshot,
)

BOTH = (Environment.PRODUCTION, Environment.DEMO)
ACCOUNT = "12345678"

KNOWN = ["ONLINE", "Online", "not-connected", "NOT_CONNECTED", "Connected", "STOPPED"]
odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
statuses = st.one_of(st.sampled_from(KNOWN), st.text(max_size=12), odd_values)
OPTIONAL = {
    "botName": st.one_of(st.text(max_size=8), odd_values),
    "botType": st.sampled_from(["CUSTOM", "POST_SURVEY_BOT", "weird"]),
    "type": st.one_of(st.sampled_from(["MESSAGING", "CHAT", "chat", ""]), odd_values),
    "environment": st.one_of(st.sampled_from(["PRODUCTION", "STAGING", "DEMO", "x"]), odd_values),
    "nodeStatus": statuses,
    "lpSocketStatus": statuses,
    "cbSocketStatus": statuses,
    "bcSocketStatus": statuses,
    "lastManualOperation": st.one_of(st.sampled_from(["START", "STOP"]), odd_values),
    "manualOperationPerformedByName": st.one_of(st.text(max_size=8), odd_values),
    "manualOperationTs": st.one_of(st.integers(), st.text(max_size=14), odd_values),
    "updateTime": st.one_of(st.integers(min_value=-(10**20), max_value=10**20), odd_values),
    "lpAccountId": st.one_of(st.sampled_from([ACCOUNT, "999"]), odd_values),
    "appName": st.one_of(st.text(max_size=8), odd_values),
}


@st.composite
def entries(draw: st.DrawFn, bot_ids: st.SearchStrategy[str] | None = None) -> dict[str, Any]:
    """One status entry: a bot id, maybe a bot user, any subset of the optional fields."""
    entry: dict[str, Any] = {
        "botId": draw(bot_ids or st.sampled_from(["b1", "b2", "b3"])),
    }
    user = draw(st.one_of(st.none(), st.sampled_from(["u1", "u2", "u3"])))
    if user is not None:
        entry["lpAccountUser"] = user
    for name in draw(st.sets(st.sampled_from(sorted(OPTIONAL)))):
        entry[name] = draw(OPTIONAL[name])
    return entry


listings = st.tuples(entries(), st.sampled_from([Environment.PRODUCTION, None]), st.booleans())


def without_duplicates(
    listed: list[tuple[dict[str, Any], Environment | None, bool]],
) -> list[tuple[dict[str, Any], Environment | None, bool]]:
    """One listing per connector key and list kind: the ones whose order cannot matter."""
    seen: set[tuple[str, str, bool]] = set()
    kept = []
    for entry, environment, pcs in listed:
        parsed = snapshot(entry, environment, pcs)
        if (parsed.bot_id, parsed.bot_user, pcs) not in seen:
            seen.add((parsed.bot_id, parsed.bot_user, pcs))
            kept.append((entry, environment, pcs))
    return kept


@given(st.lists(listings, max_size=12))
def test_it_never_crashes_whatever_the_entries_hold(
    listed: list[tuple[dict[str, Any], Environment | None, bool]],
) -> None:
    fleet = parse_fleet(listed, BOTH, ACCOUNT)
    for key, parsed in fleet.snapshots.items():
        assert key == (parsed.bot_id, parsed.bot_user)
        assert parsed.bot_user
        assert parsed.health in Health
    assert set(fleet.accounts) <= set(fleet.snapshots)


@given(st.lists(listings, max_size=12), st.randoms(use_true_random=False))
def test_the_order_of_the_entries_changes_nothing(
    listed: list[tuple[dict[str, Any], Environment | None, bool]], random: Any
) -> None:
    listed = without_duplicates(listed)
    shuffled = list(listed)
    random.shuffle(shuffled)
    first = parse_fleet(listed, BOTH, ACCOUNT)
    second = parse_fleet(shuffled, BOTH, ACCOUNT)
    assert first.snapshots == second.snapshots
    assert first.accounts == second.accounts
    assert first.userless == second.userless


@given(st.lists(entries(), min_size=1, max_size=8), st.data())
def test_an_entry_listed_twice_gives_one_connector_and_is_reported(
    listed: list[dict[str, Any]], data: st.DataObject
) -> None:
    twice = data.draw(st.sampled_from(listed))
    once = parse_fleet([(entry, None, False) for entry in listed], BOTH, ACCOUNT)
    again = parse_fleet([(entry, None, False) for entry in [*listed, twice]], BOTH, ACCOUNT)
    assert again.snapshots == once.snapshots
    assert snapshot(twice).key in again.duplicates


@given(entries(), entries())
def test_a_connector_in_the_pcs_list_is_taken_from_there_in_either_order(
    custom: dict[str, Any], pcs: dict[str, Any]
) -> None:
    pcs = {**pcs, "botId": custom["botId"], "lpAccountUser": "shared", "environment": "PRODUCTION"}
    custom = {**custom, "lpAccountUser": "shared", "environment": "PRODUCTION"}
    expected = snapshot(pcs, None, True)
    for listed in (
        [(custom, None, False), (pcs, None, True)],
        [(pcs, None, True), (custom, None, False)],
    ):
        fleet = parse_fleet(listed, BOTH, ACCOUNT)
        assert list(fleet.snapshots.values()) == [expected]
        assert expected.kind is BotKind.PCS


@given(entries())
def test_an_entry_outside_the_configured_environments_is_left_out(entry: dict[str, Any]) -> None:
    parsed = snapshot(entry)
    fleet = parse_fleet([(entry, None, False)], [Environment.PRODUCTION], ACCOUNT)
    assert (parsed.key in fleet.snapshots) is (parsed.environment is Environment.PRODUCTION)


@given(st.text(max_size=20).filter(lambda raw: raw.strip().lower() not in {"", "online"}))
def test_an_unknown_status_reads_unknown_and_keeps_the_raw_value(raw: str) -> None:
    entry = {"botId": "b", "nodeStatus": "ONLINE", "lpSocketStatus": raw, "cbSocketStatus": raw}
    parsed = snapshot(entry)
    assert parsed.raw_cloud == raw and parsed.raw_server == raw
    if parsed.cloud is Cloud.UNKNOWN or parsed.server is Server.UNKNOWN:
        assert parsed.health in (Health.UNKNOWN, Health.DOWN)


def test_missing_statuses_read_unknown() -> None:
    parsed = snapshot({"botId": "b"})
    assert (parsed.raw_connector, parsed.raw_cloud, parsed.raw_server) == (MISSING,) * 3
    assert parsed.connector is ConnectorStatus.UNKNOWN
    assert parsed.health is Health.UNKNOWN
    assert parsed.bot_user == "b"


@given(
    st.sampled_from(["ONLINE", "online", "Online", " online "]),
    st.sampled_from(["CONNECTED", "connected", "Connected"]),
    st.sampled_from(["cbSocketStatus", "bcSocketStatus"]),
)
def test_entry_health_reads_any_spelling_and_either_server_field(
    node: str, connected: str, server_field: str
) -> None:
    entry = {"nodeStatus": node, "lpSocketStatus": connected, server_field: connected}
    assert entry_health(entry) is Health.OK
    assert entry_health({**entry, server_field: "NOT_CONNECTED"}) is Health.DOWN


def test_a_pcs_entry_reads_its_bot_server_from_bcsocketstatus() -> None:
    entry = {
        "botId": "survey",
        "nodeStatus": "ONLINE",
        "lpSocketStatus": "CONNECTED",
        "bcSocketStatus": "NOT_CONNECTED",
        "cbSocketStatus": "CONNECTED",
    }
    assert snapshot(entry, None, True).server is Server.NOT_CONNECTED
    assert snapshot(entry, None, False).server is Server.CONNECTED
    assert entry_health(entry) is Health.DOWN


def test_the_bot_platform_fills_what_an_entry_lacks() -> None:
    platform = PlatformBot(name="Billing", kind=BotKind.PCS, channel=None)
    parsed = snapshot({"botId": "b", "lpAccountUser": "u"}, None, False, platform)
    assert (parsed.name, parsed.kind) == ("Billing", BotKind.PCS)
    assert snapshot({"botId": "b", "lpAccountUser": "u"}).name == "u"


def test_an_entry_without_a_bot_user_is_its_own_connector_named_by_its_app_name() -> None:
    entry = {"botId": "b", "appName": "b:::1:::x", "nodeStatus": "ONLINE"}
    fleet = parse_fleet([(entry, None, False)], BOTH, ACCOUNT)
    assert fleet.userless == {("b", "b:::1:::x")}
    assert fleet.accounts == {}
