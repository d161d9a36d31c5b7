"""One duration grammar (chatops.domain.durations) for the YAML config and for chat."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatops.config import ConfigError, load_app_config
from chatops.domain.durations import compact_duration, format_duration, parse_duration
from chatops.slack.grammar import Help, Mute, parse, parse_mute_duration

SPELLINGS = [
    ("90s", timedelta(seconds=90)),
    ("15m", timedelta(minutes=15)),
    ("4h", timedelta(hours=4)),
    ("2d", timedelta(days=2)),
    ("1w", timedelta(weeks=1)),
    ("1h30m", timedelta(minutes=90)),
    ("1d12h", timedelta(hours=36)),
    ("2H15M", timedelta(hours=2, minutes=15)),
    ("30min", timedelta(minutes=30)),
    ("1.5h", timedelta(minutes=90)),
]


def yaml_duration(tmp_path: Path, text: str) -> timedelta:
    path = tmp_path / "chatops.yml"
    path.write_text(f"alerts:\n  remind_every: {text}\n")
    return load_app_config(path).alerts.remind_every


@pytest.mark.parametrize(("text", "duration"), SPELLINGS)
def test_the_config_and_chat_read_a_duration_alike(
    tmp_path: Path, text: str, duration: timedelta
) -> None:
    assert parse_duration(text) == duration
    assert yaml_duration(tmp_path, text) == duration
    assert parse_mute_duration(text) == duration
    assert parse(f"mute billing-* {text} deploy") == Mute("billing-*", duration, "deploy")


def test_the_config_reads_1h30m_it_used_to_refuse(tmp_path: Path) -> None:
    path = tmp_path / "chatops.yml"
    path.write_text("poll:\n  interval: 1h30m\n  timeout: 1m30s\n")

    poll = load_app_config(path).poll

    assert (poll.interval, poll.timeout) == (timedelta(minutes=90), timedelta(seconds=90))


def test_the_config_also_takes_a_plain_number_of_seconds(tmp_path: Path) -> None:
    assert yaml_duration(tmp_path, "90") == timedelta(seconds=90)
    assert yaml_duration(tmp_path, "'90'") == timedelta(seconds=90)
    assert yaml_duration(tmp_path, "500ms") == timedelta(milliseconds=500)


@pytest.mark.parametrize("text", ["4x", "h", "1h30", "-1h", "soon", "1h 30", "999999999w"])
def test_a_bad_duration_in_the_config_is_refused_naming_the_key(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        yaml_duration(tmp_path, text)

    assert "alerts.remind_every" in str(raised.value)
    assert "not a duration" in str(raised.value)


@pytest.mark.parametrize("text", ["30", "4x", "1h30", "0m", "100ms", "", "1h-30m"])
def test_chat_refuses_what_is_no_duration_and_says_so(text: str) -> None:
    assert parse_mute_duration(text) is None
    command = parse(f"mute billing {text}")
    assert isinstance(command, Help)
    assert command.problem is not None


def test_a_bare_number_is_no_duration_in_the_grammar() -> None:
    assert parse_duration("30") is None


@given(st.integers(min_value=0, max_value=100 * 365 * 86400))
def test_the_compact_form_reads_back(seconds: int) -> None:
    duration = timedelta(seconds=seconds)

    assert parse_duration(compact_duration(duration)) == duration


@given(st.integers(min_value=0, max_value=100 * 365 * 86400))
def test_the_human_form_reads_back_rounded_down(seconds: int) -> None:
    duration = timedelta(seconds=seconds)

    shown = parse_duration(format_duration(duration))

    assert shown is not None
    assert shown <= duration
    assert duration - shown < max(timedelta(minutes=1), duration / 24)
