"""Working days on real dates (statutory holidays and 调休) and quiet-day policies."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from helpers import doc, load
from quietday.domain.calendar import QuietPolicy, WorkingCalendar, days_between
from quietday.errors import CalendarError, InstanceError
from quietday.official import official_calendar, official_years


def cn(*years: int) -> WorkingCalendar:
    return WorkingCalendar(official_calendar("CN", years))


@pytest.mark.parametrize("day", [date(2026, 2, 14), date(2026, 9, 20), date(2026, 10, 10)])
def test_make_up_working_days_on_weekends(day: date) -> None:
    assert day.weekday() >= 5
    assert cn(2026).is_working_day(day)


@pytest.mark.parametrize(
    "day",
    [
        *days_between(date(2026, 10, 1), date(2026, 10, 7)),
        *days_between(date(2026, 2, 16), date(2026, 2, 20)),
    ],
)
def test_statutory_holidays_are_not_working_days(day: date) -> None:
    assert not cn(2026).is_working_day(day)


def test_ordinary_weekdays_and_weekends() -> None:
    cal = cn(2026)
    assert cal.is_working_day(date(2026, 7, 21))  # a Tuesday
    assert not cal.is_working_day(date(2026, 7, 25))  # a Saturday


def test_2027_has_no_official_notice_yet() -> None:
    assert {2024, 2025, 2026} <= official_years("CN")
    assert 2027 not in official_years("CN")
    with pytest.raises(CalendarError):
        cn(2027).is_working_day(date(2027, 3, 1))


def test_overrides_apply_on_top_of_the_official_calendar() -> None:
    cal = WorkingCalendar(
        official_calendar("CN", [2026]),
        extra_holidays=frozenset({date(2026, 7, 21)}),
        extra_workdays=frozenset({date(2026, 7, 25)}),
    )
    assert not cal.is_working_day(date(2026, 7, 21))
    assert cal.is_working_day(date(2026, 7, 25))


def test_horizon_in_a_year_without_notice_is_refused() -> None:
    d = doc(horizon={"start": "2026-12-01", "end": "2027-01-31"})
    with pytest.raises(InstanceError) as err:
        load(d)
    assert [p.code for p in err.value.problems] == ["calendar_year_unknown"]
    assert "2027" in err.value.problems[0].message


def test_horizon_in_a_year_without_notice_is_accepted_with_overrides() -> None:
    d = doc(
        horizon={"start": "2026-12-01", "end": "2027-01-31"},
        calendar={"country": "CN", "extra_holidays": ["2027-01-01"], "extra_workdays": []},
    )
    inst = load(d)
    assert date(2027, 1, 1) not in inst.working_days
    assert date(2027, 1, 4) in inst.working_days  # a Monday, counted Monday-Friday
    assert date(2026, 12, 31) in inst.working_days


def test_holidays_package_agrees_with_holiday_cn_data(shared: Path) -> None:
    """Cross-check against NateScarlet/holiday-cn (State Council notices), read from ../shared."""
    for year in (2024, 2025, 2026):
        listed = json.loads((shared / "data" / "cn_holidays" / f"{year}.json").read_text("utf-8"))
        off = {x["date"]: x["isOffDay"] for x in listed["days"]}
        cal = cn(year)
        day = date(year, 1, 1)
        while day.year == year:
            expected = not off[day.isoformat()] if day.isoformat() in off else day.weekday() < 5
            assert cal.is_working_day(day) == expected, day
            day += timedelta(days=1)


def test_month_day_ranges_stop_at_the_month_end() -> None:
    policy = QuietPolicy("late", month_days=((25, 31),))
    assert policy.is_quiet(date(2026, 2, 28))
    assert policy.is_quiet(date(2026, 4, 30))
    assert not policy.is_quiet(date(2026, 2, 24))


def test_policy_is_a_union_of_rules() -> None:
    policy = QuietPolicy(
        "mix", month_days=((1, 20),), weekdays=frozenset({1}), dates=frozenset({date(2026, 7, 30)})
    )
    assert policy.is_quiet(date(2026, 7, 10))
    assert policy.is_quiet(date(2026, 7, 27))  # a Monday
    assert policy.is_quiet(date(2026, 7, 30))
    assert not policy.is_quiet(date(2026, 7, 28))
    assert not QuietPolicy("none").is_quiet(date(2026, 7, 10))


def test_enterprise_quiet_days_include_its_blackout() -> None:
    d = doc()
    d["enterprises"][0]["blackout"] = ["2026-07-27"]
    inst = load(d)
    assert inst.is_quiet("E1", date(2026, 7, 27))  # type: ignore[arg-type]
    assert not inst.is_quiet("E2", date(2026, 7, 27))  # type: ignore[arg-type]
    assert inst.is_quiet("E2", date(2026, 7, 20))  # type: ignore[arg-type]
