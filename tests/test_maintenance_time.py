"""Maintenance windows in time (pure): schedules, daylight saving, typed starts, the config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chatops.config import ConfigError, load_app_config
from chatops.domain.maintenance import (
    Recurrence,
    WindowTimeError,
    is_start_word,
    occurrence,
    parse_start,
    time_zone,
)

LONDON = time_zone("Europe/London")
NEW_YORK = time_zone("America/New_York")
SUNDAY_2AM = Recurrence.parse("sun 02:00")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_a_weekly_window_keeps_its_wall_clock_time_when_london_springs_forward() -> None:
    # 2026-03-29 is the last Sunday of March: at 01:00 GMT clocks go to 02:00 BST.
    before = occurrence(SUNDAY_2AM, timedelta(hours=2), LONDON, utc(2026, 3, 21, 12))
    after = occurrence(SUNDAY_2AM, timedelta(hours=2), LONDON, utc(2026, 3, 28, 12))
    assert before == (utc(2026, 3, 22, 2), utc(2026, 3, 22, 4))  # 02:00 GMT
    assert after == (utc(2026, 3, 29, 1), utc(2026, 3, 29, 3))  # 02:00 BST
    assert after[0].astimezone(LONDON).strftime("%H:%M %Z") == "02:00 BST"


def test_a_weekly_window_keeps_its_wall_clock_time_when_london_falls_back() -> None:
    # 2026-10-25 is the last Sunday of October: at 02:00 BST clocks go back to 01:00 GMT.
    before = occurrence(SUNDAY_2AM, timedelta(hours=2), LONDON, utc(2026, 10, 17, 12))
    after = occurrence(SUNDAY_2AM, timedelta(hours=2), LONDON, utc(2026, 10, 24, 12))
    assert before == (utc(2026, 10, 18, 1), utc(2026, 10, 18, 3))  # 02:00 BST
    assert after == (utc(2026, 10, 25, 2), utc(2026, 10, 25, 4))  # 02:00 GMT


def test_a_skipped_time_starts_after_the_change_and_a_repeated_one_the_first_time() -> None:
    half_past_one = Recurrence.parse("sun 01:30")
    skipped, _ = occurrence(half_past_one, timedelta(hours=1), LONDON, utc(2026, 3, 28, 12))
    assert skipped.astimezone(LONDON).strftime("%H:%M %Z") == "02:30 BST"
    repeated, _ = occurrence(half_past_one, timedelta(hours=1), LONDON, utc(2026, 10, 24, 12))
    assert repeated == utc(2026, 10, 25, 0, 30)  # 01:30 BST, the first 01:30 of the night


def test_the_occurrence_in_force_is_found_until_it_ends_then_the_next_one() -> None:
    length = timedelta(hours=2)
    assert occurrence(SUNDAY_2AM, length, LONDON, utc(2026, 3, 29, 2, 59))[0] == utc(2026, 3, 29, 1)
    assert occurrence(SUNDAY_2AM, length, LONDON, utc(2026, 3, 29, 3))[0] == utc(2026, 4, 5, 1)


def test_a_daily_or_several_day_schedule_and_one_longer_than_a_day() -> None:
    daily = Recurrence.parse("daily 23:30")
    assert occurrence(daily, timedelta(hours=1), NEW_YORK, utc(2026, 7, 1, 12))[0] == utc(
        2026, 7, 2, 3, 30
    )
    weekend = Recurrence.parse("Sat,Sun 06:00")
    assert weekend.weekdays == frozenset({5, 6})
    long = occurrence(SUNDAY_2AM, timedelta(days=3), LONDON, utc(2026, 7, 7, 12))
    assert long == (utc(2026, 7, 5, 1), utc(2026, 7, 8, 1))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("sunday", "not a schedule"),
        ("funday 02:00", "'funday' is not a day"),
        ("sun 25:00", "'25:00' is not a time of day"),
        ("sun 02:00 weekly", "not a schedule"),
    ],
)
def test_a_bad_schedule_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(WindowTimeError, match=problem):
        Recurrence.parse(text)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "Europe/"])
def test_an_unknown_time_zone_is_an_error(name: str) -> None:
    with pytest.raises(WindowTimeError, match="unknown time zone"):
        time_zone(name)


def test_a_typed_start_is_read_in_the_persons_time_zone() -> None:
    now = utc(2026, 7, 1, 12, 0)  # 13:00 in London (BST), 08:00 in New York
    assert parse_start("now", now, LONDON) == now
    assert parse_start("14:30", now, LONDON) == utc(2026, 7, 1, 13, 30)
    assert parse_start("14:30", now, NEW_YORK) == utc(2026, 7, 1, 18, 30)
    # A time of day that has passed is tomorrow's.
    assert parse_start("09:00", now, LONDON) == utc(2026, 7, 2, 8, 0)
    assert parse_start("2026-07-03T02:00", now, LONDON) == utc(2026, 7, 3, 1, 0)
    assert parse_start("2026-07-03T02:00+00:00", now, LONDON) == utc(2026, 7, 3, 2, 0)


@pytest.mark.parametrize("word", ["tomorrow", "2h", "31:00", "2026-13-01T00:00"])
def test_what_is_not_a_start_is_refused_with_the_forms_that_are(word: str) -> None:
    assert not is_start_word(word)
    with pytest.raises(WindowTimeError, match="use now, HH:MM or an ISO time"):
        parse_start(word, utc(2026, 7, 1), LONDON)


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "chatops.yml"
    path.write_text(body)
    return path


def test_the_config_file_takes_recurring_windows(tmp_path: Path) -> None:
    config = load_app_config(
        _config(
            tmp_path,
            "maintenance:\n"
            '  - {bots: ["billing-*"], every: "sun 02:00", for: 2h, timezone: Europe/London,'
            " reason: weekly deploy}\n",
        )
    )
    (window,) = config.maintenance
    assert window.bots == ("billing-*",)
    assert window.length == timedelta(hours=2)
    assert window.recurrence == SUNDAY_2AM
    assert window.reason == "weekly deploy"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            '{bots: [x], every: "sun 02:00", for: 2h, timezone: Mars/Base}',
            "maintenance.0.timezone: Value error, unknown time zone 'Mars/Base'",
        ),
        (
            '{bots: [x], every: "someday 02:00", for: 2h}',
            "maintenance.0.every: Value error, 'someday' is not a day",
        ),
        ('{bots: [x], every: "sun 02:00", for: 0s}', "maintenance.0.for: Value error"),
        ('{bots: [x], every: "sun 02:00"}', "maintenance.0.for: Field required"),
        ('{bots: [], every: "sun 02:00", for: 1h}', "maintenance.0.bots"),
        ('{bots: [x], every: "sun 02:00", for: 1h, colour: red}', "unknown key"),
    ],
)
def test_a_bad_recurring_window_is_an_error_naming_the_key(
    tmp_path: Path, entry: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_app_config(_config(tmp_path, f"maintenance:\n  - {entry}\n"))
    assert message in str(raised.value)
