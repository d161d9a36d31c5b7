"""Routing (first match by name glob, kind, environment; else the default) and mute targets."""

from __future__ import annotations

from chatops.alerts.routing import ActiveMute, BotFacts, Reach, channels_for, is_muted, route_for
from chatops.config import AlertsConfig

CONFIG = AlertsConfig.model_validate(
    {
        "channel": "C0DEFAULT",
        "routes": [
            {"bots": ["billing-*"], "environment": "demo", "channel": "C0BILLINGDEMO"},
            {"bots": ["billing-*", "invoice-?"], "channel": "C0BILLING"},
            {"kind": "pcs", "channel": "C0SURVEYS"},
        ],
    }
)


def bot(name: str, kind: str = "custom", environment: str = "production") -> BotFacts:
    return BotFacts(f"id-{name}", name, kind, environment)


def test_the_first_matching_route_wins_and_the_rest_go_to_the_default() -> None:
    assert route_for(bot("Billing-Bot-3"), CONFIG) == "C0BILLING"
    assert route_for(bot("billing-bot-3", environment="demo"), CONFIG) == "C0BILLINGDEMO"
    assert route_for(bot("invoice-7"), CONFIG) == "C0BILLING"
    assert route_for(bot("invoice-77"), CONFIG) == "C0DEFAULT"
    assert route_for(bot("billing-survey", kind="pcs"), CONFIG) == "C0BILLING"
    assert route_for(bot("survey-1", kind="pcs"), CONFIG) == "C0SURVEYS"
    assert route_for(bot("faq-bot-1"), CONFIG) == "C0DEFAULT"


def test_without_a_default_an_unrouted_bot_has_no_channel() -> None:
    config = AlertsConfig.model_validate({"routes": [{"bots": ["a*"], "channel": "C0A"}]})
    assert route_for(bot("abc"), config) == "C0A"
    assert route_for(bot("xyz"), config) is None
    assert channels_for([bot("xyz")], config) == []


def test_brackets_in_names_are_literal() -> None:
    config = AlertsConfig.model_validate({"routes": [{"bots": ["[eu] *"], "channel": "C0EU"}]})
    assert route_for(bot("[eu] billing"), config) == "C0EU"
    assert route_for(bot("e billing"), config) is None


def mutes(*targets: str, scope: tuple[str, ...] | None = None) -> list[ActiveMute]:
    return [ActiveMute(Reach(target, scope)) for target in targets]


def test_mute_targets_match_ids_names_and_globs_ignoring_case() -> None:
    subject = bot("Billing-Bot-3")
    assert is_muted(subject, mutes("id-Billing-Bot-3"))
    assert is_muted(subject, mutes("billing-bot-3"))
    assert is_muted(subject, mutes("BILLING-*"))
    assert not is_muted(subject, mutes("billing-bot-30", "support-*"))


def test_a_mute_silences_only_bots_within_its_authors_scope() -> None:
    scoped = mutes("bil*", scope=("billing-*",))
    assert is_muted(bot("Billing-Bot-3"), scoped)
    assert not is_muted(bot("bilingual-1"), scoped)
    assert is_muted(bot("bilingual-1"), mutes("bil*"))
    assert not is_muted(bot("billing-1"), mutes("*", scope=()))


def test_an_exception_cut_from_a_mute_reaches_only_its_own_scope() -> None:
    (everything,) = mutes("*")
    cut = ActiveMute(everything.reach, (Reach("*-1", ("billing-*",)),))
    assert not is_muted(bot("billing-1"), [cut])
    assert is_muted(bot("billing-2"), [cut])
    assert is_muted(bot("faq-1"), [cut])


def test_the_channels_of_a_mute_are_where_its_bots_alert() -> None:
    bots = [bot("billing-1"), bot("survey-1", kind="pcs"), bot("billing-2")]
    assert channels_for(bots, CONFIG) == ["C0BILLING", "C0SURVEYS"]
    assert channels_for([], CONFIG) == ["C0DEFAULT"]
