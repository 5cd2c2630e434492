"""Working days on real dates (statutory holidays and 调休) and quiet-day policies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import holidays
import pytest

from helpers import doc, load
from quietday import official
from quietday.domain.calendar import QuietPolicy, WorkingCalendar, days_between
from quietday.errors import CalendarError, InstanceError
from quietday.official import (
    as_instance_calendar,
    official_calendar,
    official_years,
    provisional_calendar,
    with_provisional,
)

SPEC_EXAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "spec-example-valid.json"


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


def test_provisional_2027_has_the_statutory_days_and_their_make_up_days() -> None:
    """《全国年节及纪念日放假办法》(2024): 除夕 and 初一 to 初三, one day each for 清明, 端午 and
    中秋, 1-2 May, 1-3 October, 1 January; a holiday on a weekend is made up on the next free
    weekday (补假). 2027: 春节 (初一) is Saturday 6 February."""
    cal = provisional_calendar([2027])
    assert cal.names[date(2027, 2, 5)] == "农历除夕"
    assert {d for d, n in cal.names.items() if n == "春节"} == {
        date(2027, 2, 6), date(2027, 2, 7), date(2027, 2, 8),
    }  # fmt: skip
    assert cal.names[date(2027, 4, 5)] == "清明节"
    assert cal.names[date(2027, 6, 9)] == "端午节"
    assert cal.names[date(2027, 9, 15)] == "中秋节"
    made_up = {d for d, n in cal.names.items() if n.endswith("（补假）")}
    assert made_up == {
        date(2027, 2, 9), date(2027, 2, 10),  # for Sat 6 and Sun 7 February
        date(2027, 5, 3), date(2027, 5, 4),  # for 1-2 May, a weekend
        date(2027, 10, 4), date(2027, 10, 5),  # for 2-3 October
    }  # fmt: skip
    assert len(cal.holidays) == 13 + len(made_up)
    assert cal.workdays == frozenset()  # 调休 comes only with a notice
    working = WorkingCalendar(cal)
    assert working.is_working_day(date(2027, 2, 11))
    assert not working.is_working_day(date(2027, 2, 13))  # an ordinary Saturday


@pytest.mark.parametrize("year", [2025, 2026])
def test_provisional_days_off_were_days_off_in_the_notice(shared: Path, year: int) -> None:
    """The lunar dates and 补假 computed for 2025 and 2026 (the 2024 revision in force) are all
    days off in those years' published notices (holiday-cn); the notices add more, with 调休."""
    listed = json.loads((shared / "data" / "cn_holidays" / f"{year}.json").read_text("utf-8"))
    off = {date.fromisoformat(x["date"]) for x in listed["days"] if x["isOffDay"]}
    computed = provisional_calendar([year]).holidays
    assert computed <= off, sorted(computed - off)
    assert len(computed) >= 13


def test_instance_terms_carry_a_calendar_the_package_lacks() -> None:
    """As extras over the package's calendar, a provisional year reads back as the same days,
    and a year the package holds gives no extras."""
    cal, missing = with_provisional([2026, 2027])
    assert missing == {2027}
    terms = as_instance_calendar(cal)
    assert terms.official == official_calendar("CN", [2026, 2027])
    assert all(d.year == 2027 for d in terms.extra_holidays | terms.extra_workdays)
    wanted = WorkingCalendar(cal)
    for day in days_between(date(2026, 1, 1), date(2027, 12, 31)):
        assert terms.is_working_day(day) == wanted.is_working_day(day), day


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The notices' cache in a directory of its own, and the process's memory of them cleared
    before and after."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    official._notices.cache_clear()
    official._calendar.cache_clear()
    yield tmp_path
    official._notices.cache_clear()
    official._calendar.cache_clear()


def _package_2026() -> tuple[dict[date, str], set[date]]:
    """2026 straight from the package (its `weekend_workdays` holds days of other years too)."""
    table = holidays.country_holidays("CN", years=[2026], language="zh_CN")
    return dict(table.items()), {d for d in table.weekend_workdays if d.year == 2026}


def test_the_notices_are_cached_for_the_package_version(cache_dir: Path) -> None:
    """The first process takes the notices from the package and writes them down; the next
    reads them back: the same calendar, and a change to the file shows it was read."""
    off, work = _package_2026()
    cal = official_calendar("CN", [2026])
    assert {d: cal.names[d] for d in cal.holidays} == off
    assert cal.workdays == frozenset(work)
    (cached,) = (cache_dir / "quietday").iterdir()
    assert cached.name == f"official-cn-{official.PACKAGE_SOURCE}.json"
    doc = json.loads(cached.read_text("utf-8"))
    doc["years"]["2026"]["holidays"]["2026-07-21"] = "测试"
    cached.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    official._notices.cache_clear()
    official._calendar.cache_clear()
    assert official_calendar("CN", [2026]).holidays == frozenset(off) | {date(2026, 7, 21)}


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        json.dumps({"source": "holidays-0.1", "years": {"2026": {"holidays": {}, "workdays": []}}}),
        json.dumps({"source": official.PACKAGE_SOURCE, "years": {"2026": {"holidays": []}}}),
        json.dumps(
            {
                "source": official.PACKAGE_SOURCE,
                "years": {"2026": {"holidays": {"2025-07-21": "x"}, "workdays": []}},
            }
        ),
    ],
    ids=["not-json", "other-version", "wrong-shape", "wrong-year"],
)
def test_a_cache_not_of_this_package_version_is_taken_again_from_the_package(
    cache_dir: Path, text: str
) -> None:
    cached = cache_dir / "quietday" / f"official-cn-{official.PACKAGE_SOURCE}.json"
    cached.parent.mkdir()
    cached.write_text(text, "utf-8")
    off, work = _package_2026()
    cal = official_calendar("CN", [2026])
    assert cal.holidays == frozenset(off)
    assert cal.workdays == frozenset(work)
    assert official_years("CN") >= {2024, 2025, 2026}
    assert json.loads(cached.read_text("utf-8"))["source"] == official.PACKAGE_SOURCE


def test_reading_an_instance_loads_no_holidays_package_once_cached(
    cache_dir: Path, tmp_path: Path
) -> None:
    """The package's country modules load together (0.36 s): a command reading an instance
    skips them once the notices are cached."""
    official_years("CN")
    script = (
        "import sys; from quietday.formats.instance import load_instance; "
        f"load_instance({str(SPEC_EXAMPLE)!r}); print(sorted(m for m in sys.modules if m.startswith('holidays')))"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_dir)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
    env["XDG_CACHE_HOME"] = str(tmp_path / "empty")
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert "holidays.countries.china" in done.stdout
