"""One rule for bot globs (chatops.domain.globs), the same in every place that matches one."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatops.alerts.routing import BotFacts, matches_target, route_for
from chatops.config import AlertsConfig, Route
from chatops.domain.globs import glob_matches, glob_regex, is_glob
from chatops.permissions import in_scope
from chatops.slack import restart
from chatops.store.bots import match_bots
from chatops.store.models import Bot

CASES = [
    ("billing-*", "Billing-Bot-3", True),
    ("billing-?", "billing-1", True),
    ("billing-?", "billing-10", False),
    ("*", "", True),
    ("*bot*", "survey-BOT-2", True),
    ("billing", "billing-bot", False),
    ("[eu] *", "[EU] Billing", True),
    ("[eu] *", "e Billing", False),
    ("[a-z]bot", "abot", False),
    ("100%_off", "100%_OFF", True),
    ("a.c", "abc", False),
    ("back\\slash*", "back\\slash bot", True),
    ("straße", "STRASSE", True),
]


def reference(pattern: str, text: str) -> bool:
    """The rule through the standard library: fnmatch with ``[`` made literal."""
    return fnmatch.fnmatchcase(text.casefold(), pattern.casefold().replace("[", "[[]"))


@pytest.mark.parametrize(("pattern", "name", "matches"), CASES)
def test_a_glob_matches_whole_names_ignoring_case(pattern: str, name: str, matches: bool) -> None:
    assert glob_matches(pattern, name) is matches
    assert reference(pattern, name) is matches


glob_alphabet = st.sampled_from(list("ab*?[]!-.\\%_ BSsß\n"))


@given(st.text(glob_alphabet, max_size=8), st.text(glob_alphabet, max_size=10))
def test_the_regex_for_many_names_agrees_with_the_rule(pattern: str, name: str) -> None:
    expected = reference(pattern, name)

    assert glob_matches(pattern, name) is expected
    assert (glob_regex(pattern).fullmatch(name.casefold()) is not None) is expected


def test_only_a_star_or_a_question_mark_makes_a_glob() -> None:
    assert is_glob("billing-*") and is_glob("bot-?")
    assert not is_glob("[EU] Billing") and not is_glob("billing")


NAMES = ["[EU] Billing", "E Billing", "billing-1", "Billing-10", "survey-nps"]


def bots() -> list[Bot]:
    return [Bot(id=f"b{i}", name=name) for i, name in enumerate(NAMES)]


@pytest.mark.parametrize("pattern", ["[eu] *", "billing-?", "BILLING-*", "*", "[e]*"])
def test_every_place_that_matches_a_glob_agrees(pattern: str) -> None:
    expected = {name for name in NAMES if glob_matches(pattern, name)}
    listed = bots()

    assert {bot.name for bot in match_bots(listed, pattern)} == expected
    assert {name for name in NAMES if in_scope([pattern], name)} == expected
    assert {
        bot.name
        for bot in listed
        if matches_target(pattern, BotFacts(bot.id, bot.name, "custom", "production"))
    } == expected
    routes = AlertsConfig(routes=(Route(channel="C0ROUTED", bots=(pattern,)),))
    routed = {
        bot.name
        for bot in listed
        if route_for(BotFacts(bot.id, bot.name, "custom", "production"), routes) == "C0ROUTED"
    }
    assert routed == expected
    planned = restart.plan(listed, {}, pattern, pcs_count=0)
    assert {card.name for card in planned.bots} == expected
