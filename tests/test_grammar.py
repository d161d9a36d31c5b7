"""The /botstatus grammar: every documented form, typos, hostile input."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatops.domain.globs import glob_matches
from chatops.slack.grammar import (
    MAX_MUTE,
    MAX_NAME_CHARS,
    MAX_PAGE,
    All,
    Command,
    Help,
    History,
    Maintenance,
    MaintenanceCancel,
    MaintenanceList,
    Mute,
    Mutes,
    Problems,
    Query,
    Restart,
    Summary,
    Unmute,
    parse,
    parse_mute_duration,
    suggest,
)
from tests.waiting import PATIENCE

DOCUMENTED_FORMS: list[tuple[str, Command]] = [
    ("", Summary()),
    ("billing-bot", Query("billing-bot")),
    ("billing bot eu", Query("billing bot eu")),
    ("problems", Problems()),
    ("problems 2", Problems(2)),
    ("all", All()),
    ("all 3", All(3)),
    ("history billing-bot", History("billing-bot")),
    (
        "mute billing-* 2h deploy in progress",
        Mute("billing-*", timedelta(hours=2), "deploy in progress"),
    ),
    ("mute billing-bot 30m", Mute("billing-bot", timedelta(minutes=30))),
    ("unmute billing-*", Unmute("billing-*")),
    ("mutes", Mutes()),
    ("restart billing-*", Restart("billing-*")),
    ("restart billing bot 3", Restart("billing bot 3")),
    ('restart "all"', Restart("all")),
    (
        "maintenance billing-* now 2h weekly deploy",
        Maintenance("billing-*", "now", timedelta(hours=2), "weekly deploy"),
    ),
    (
        "maintenance billing bot 14:30 30m",
        Maintenance("billing bot", "14:30", timedelta(minutes=30)),
    ),
    (
        'maintenance "all" 2026-03-29T02:00 1h30m',
        Maintenance("all", "2026-03-29T02:00", timedelta(hours=1, minutes=30)),
    ),
    ("maintenance", MaintenanceList()),
    ("maintenance cancel 12", MaintenanceCancel(12)),
    ("maintenance cancel #12", MaintenanceCancel(12)),
    ("help", Help()),
]


@pytest.mark.parametrize(("text", "command"), DOCUMENTED_FORMS)
def test_it_parses_every_documented_form(text: str, command: Command) -> None:
    assert parse(text) == command


@pytest.mark.parametrize(("text", "command"), DOCUMENTED_FORMS)
def test_a_command_says_itself_back_as_text_that_parses_to_it(text: str, command: Command) -> None:
    assert parse(command.text) == command


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("  ALL   4 ", All(4)),
        ("Problems", Problems()),
        ("all page 7", All(7)),
        ("all #2", All(2)),
        ("all 0", All(1)),
        ("all 99999999999", All(MAX_PAGE)),
        ("HELP me", Help()),
        ("?", Help()),
        ("summary", Summary()),
        ("mutes billing", Mutes()),
        ("\t\n", Summary()),
    ],
)
def test_it_is_lenient_about_case_spacing_and_pages(text: str, command: Command) -> None:
    assert parse(text) == command


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("problms", "problems"),
        ("problem", "problems"),
        ("hepl", "help"),
        ("alll", "all"),
        ("mutess", "mutes"),
        ("histroy billing-bot", "history billing-bot"),
        ("unmte billing-*", "unmute billing-*"),
        ("restrat billing-*", "restart billing-*"),
        ("restar", "restart"),
    ],
)
def test_a_misspelt_command_gets_help_with_a_did_you_mean(text: str, suggestion: str) -> None:
    assert parse(text) == Help(suggestion=suggestion)


@pytest.mark.parametrize(
    "text",
    ["historybot", "all-bots", "all hands bot", "problems eu", "mutation-tester", "restart-bot"],
)
def test_a_bot_name_that_resembles_a_command_is_still_a_query(text: str) -> None:
    assert parse(text) == Query(text)


def test_quotes_make_a_keyword_a_bot_name() -> None:
    assert parse('"all"') == Query("all")
    assert parse("“help”") == Query("help")
    assert parse(Query("all").text) == Query("all")


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("mute billing bot 2h deploy", Mute("billing bot", timedelta(hours=2), "deploy")),
        ('mute "billing bot 2h" 1h', Mute("billing bot 2h", timedelta(hours=1))),
        ("mute “survey bot” 1h30m why", Mute("survey bot", timedelta(minutes=90), "why")),
        ("mute x 1w", Mute("x", timedelta(weeks=1))),
        ("mute x 9999w", Mute("x", MAX_MUTE)),
    ],
)
def test_it_reads_mute_targets_with_spaces(text: str, command: Command) -> None:
    assert parse(text) == command


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("mute", "Which bots, and for how long?"),
        ("mute billing-bot", "For how long? Give a duration such as 30m, 4h or 2d."),
        ("mute billing-bot 30", "`30` is not a duration: use e.g. 30m, 4h, 2d or 1h30m."),
        ("mute billing-bot 0h", "`0h` is not a duration: use e.g. 30m, 4h, 2d or 1h30m."),
        ('mute "" 1h', "Which bots? Give a name or glob."),
        ("unmute", "Which bots? Give a name or glob."),
        ("history", "Which bot? Give its name."),
        ("restart", "Which bots? Give a name or glob."),
        ('restart ""', "Which bots? Give a name or glob."),
    ],
)
def test_an_incomplete_command_gets_help_saying_what_is_missing(text: str, problem: str) -> None:
    command = parse(text)

    assert isinstance(command, Help)
    assert command.problem == problem
    assert command.suggestion is not None


@pytest.mark.parametrize(
    ("word", "duration"),
    [
        ("45s", timedelta(seconds=45)),
        ("30min", timedelta(minutes=30)),
        ("4H", timedelta(hours=4)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("30", None),
        ("1ms", None),
        ("h", None),
        ("-1h", None),
    ],
)
def test_mute_durations(word: str, duration: timedelta | None) -> None:
    assert parse_mute_duration(word) == duration


def test_control_and_format_characters_become_spaces() -> None:
    assert parse("billing\x00bot\u202e\u200b") == Query("billing bot")


def test_full_width_letters_read_as_plain_ones() -> None:
    assert parse("ａｌｌ ２") == All(2)


def test_a_huge_input_is_cut_short() -> None:
    # Reading all of it with anything worse than linear work would not end within patience.
    with ThreadPoolExecutor(1) as parser:
        command = parser.submit(parse, "x" * 1_000_000).result(timeout=PATIENCE)

    assert command == Query("x" * MAX_NAME_CHARS)


def test_suggest_finds_the_closest_bot_name_keeping_its_case() -> None:
    names = ["Billing-Bot", "survey-nps", "survey-csat"]

    assert suggest("billing-bto", names) == "Billing-Bot"
    assert suggest("zzz", names) is None
    assert suggest("", names) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_gives_a_command_and_never_raises(text: str) -> None:
    command = parse(text)

    assert isinstance(
        command,
        Summary | Query | Problems | All | History | Mute | Unmute | Mutes | Restart | Help,
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["all", "problems", "history", "mute", "restart", "2h", '"', "“", "x", "bot", "*"]
        )
        | st.text(max_size=12),
        max_size=6,
    ).map(" ".join)
)
def test_a_parsed_command_survives_its_own_text(text: str) -> None:
    # Share and paging buttons carry command.text; a click must mean what was shown.
    command = parse(text)

    if not isinstance(command, Help):
        assert parse(command.text) == command


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("billing-*", "Billing-Bot-3", True),
        ("billing-bot-3", "BILLING-BOT-3", True),
        ("billing-?", "billing-10", False),
        ("[eu] bot", "[EU] Bot", True),
        ("*", "anything", True),
        ("billing", "billing-bot", False),
    ],
)
def test_a_glob_matches_whole_names_ignoring_case(pattern: str, name: str, matches: bool) -> None:
    assert glob_matches(pattern, name) is matches


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("maintenance billing-* now 0m", "lasts longer than zero"),
        ("maintenance billing-* now -2h", "lasts longer than zero"),
        ("maintenance billing-* 14:00 13:00", "a length, not an end"),
        ("maintenance billing-* tomorrow 2h", "`tomorrow` is not a start"),
        ("maintenance billing-* now", "For how long?"),
        ("maintenance cancel", "Which window?"),
        ("maintenance cancel billing", "Which window?"),
    ],
)
def test_a_bad_maintenance_window_gets_the_usage_and_what_was_wrong(
    text: str, problem: str
) -> None:
    command = parse(text)
    assert isinstance(command, Help)
    assert command.problem is not None and problem in command.problem
    assert command.suggestion is not None and command.suggestion.startswith("maintenance")
