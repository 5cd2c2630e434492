"""The official working-day calendar of China: the `holidays` package's notices, the calendar
computable before a notice exists, and both expressed in the instance format's terms.

For China the official calendar is the State Council's yearly notice: statutory holidays and the
weekend days made working days (调休). The package holds the notices of the years up to its
release; its later years are estimates, which the scheduler never takes for official. The
supervisor keeps the calendar in the database (`planning.calendar`), seeded from the package.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from contextlib import suppress
from datetime import date, timedelta
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

from quietday.domain.calendar import SATURDAY, OfficialCalendar, WorkingCalendar, days_between
from quietday.errors import CalendarError

__all__ = [
    "PACKAGE_SOURCE",
    "SUPPORTED_COUNTRIES",
    "as_instance_calendar",
    "combine",
    "official_calendar",
    "official_years",
    "provisional_calendar",
    "with_provisional",
]

SUPPORTED_COUNTRIES = ("CN",)
PACKAGE_SOURCE = f"holidays-{version('holidays')}"
_MAKE_UP = "调休上班"

# A year's notice: its holidays with their names, and its weekend days made working days.
_Notice = tuple[dict[date, str], frozenset[date]]


def _cache_file() -> Path | None:
    """Where the notices of this package version are kept: the user's cache directory
    (`XDG_CACHE_HOME`, else ~/.cache; None without a home directory)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    try:
        root = Path(xdg) if xdg else Path.home() / ".cache"
    except RuntimeError:
        return None
    return root / "quietday" / f"official-cn-{PACKAGE_SOURCE}.json"


def _from_package() -> dict[int, _Notice]:
    """The package records each published State Council notice as that year's special
    holidays; its country modules load together (0.36 s here), so only on a cache miss."""
    import holidays  # noqa: PLC0415
    from holidays.countries.china import ChinaStaticHolidays  # noqa: PLC0415

    years = sorted(y for y in ChinaStaticHolidays.special_public_holidays if y >= 2001)
    table = holidays.country_holidays("CN", years=years, language="zh_CN")
    workdays = [d for d in getattr(table, "weekend_workdays", ()) if isinstance(d, date)]
    return {
        year: (
            {d: str(name) for d, name in table.items() if d.year == year},
            frozenset(d for d in workdays if d.year == year),
        )
        for year in years
    }


def _encoded(notices: Mapping[int, _Notice]) -> dict[str, Any]:
    return {
        "source": PACKAGE_SOURCE,
        "years": {
            str(year): {
                "holidays": {d.isoformat(): n for d, n in sorted(off.items())},
                "workdays": sorted(d.isoformat() for d in work),
            }
            for year, (off, work) in sorted(notices.items())
        },
    }


def _decoded(doc: Any) -> dict[int, _Notice]:
    """The notices of a cache file (KeyError, TypeError, ValueError, AttributeError: not one
    of this package version)."""
    if doc["source"] != PACKAGE_SOURCE:
        raise ValueError(doc["source"])
    notices: dict[int, _Notice] = {}
    for year, notice in doc["years"].items():
        off = {date.fromisoformat(d): str(n) for d, n in notice["holidays"].items()}
        work = frozenset(date.fromisoformat(d) for d in notice["workdays"])
        if any(d.year != int(year) for d in (*off, *work)):
            raise ValueError(year)
        notices[int(year)] = (off, work)
    return notices


@lru_cache(maxsize=1)
def _notices() -> dict[int, _Notice]:
    """Every notice the package holds, from the cache file of this package version, else from
    the package (then written to that file for the next process)."""
    path = _cache_file()
    if path is not None:
        with suppress(OSError, KeyError, TypeError, ValueError, AttributeError):
            return _decoded(json.loads(path.read_text(encoding="utf-8")))
    notices = _from_package()
    if path is not None:
        with suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            part = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            part.write_text(json.dumps(_encoded(notices), ensure_ascii=False), encoding="utf-8")
            part.replace(path)
    return notices


def official_years(country: str) -> frozenset[int]:
    if country != "CN":
        raise ValueError(f"unsupported country {country!r}")
    return frozenset(_notices())


@lru_cache(maxsize=32)
def _calendar(country: str, years: tuple[int, ...]) -> OfficialCalendar:
    notices, noticed = _notices(), official_years(country)
    known = tuple(y for y in years if y in noticed)
    off = {d: n for y in known for d, n in notices[y][0].items()}
    workdays = frozenset(d for y in known for d in notices[y][1])
    return OfficialCalendar(
        country=country,
        years=frozenset(known),
        holidays=frozenset(off),
        workdays=workdays,
        names={**off, **dict.fromkeys(workdays, _MAKE_UP)},
    )


def official_calendar(country: str, years: Iterable[int]) -> OfficialCalendar:
    """The official calendar of `country` for those of `years` whose notice the package holds."""
    return _calendar(country, tuple(sorted(set(years))))


def _lunar(found: tuple[date | None, bool], year: int, name: str) -> date:
    day = found[0]
    if day is None:
        raise CalendarError(f"无法推算 {year} 年的{name}日期(农历数据只覆盖 1901-2099 年)")
    return day


@lru_cache(maxsize=32)
def _provisional(year: int) -> dict[date, str]:
    # The package's lunisolar tables (its `China` class would mix in a notice where it has one).
    from holidays.calendars.chinese import _ChineseLunisolar  # noqa: PLC0415

    lunar = _ChineseLunisolar()
    new_year = _lunar(lunar.lunar_new_year_date(year), year, "春节")
    days = {
        date(year, 1, 1): "元旦",
        new_year - timedelta(days=1): "农历除夕",
        **{new_year + timedelta(days=k): "春节" for k in range(3)},
        lunar.qingming_date(year)[0]: "清明节",
        date(year, 5, 1): "劳动节",
        date(year, 5, 2): "劳动节",
        _lunar(lunar.dragon_boat_date(year), year, "端午节"): "端午节",
        _lunar(lunar.mid_autumn_date(year), year, "中秋节"): "中秋节",
        **{date(year, 10, k): "国庆节" for k in (1, 2, 3)},
    }
    # Art. 6: a holiday of all citizens that falls on a weekend is made up on a working day
    # (补假); the notice places it, usually on the next weekday free of holidays.
    off = dict(days)
    for day in sorted(d for d in days if d.weekday() >= SATURDAY):
        extra = day + timedelta(days=1)
        while extra.weekday() >= SATURDAY or extra in off:
            extra += timedelta(days=1)
        off[extra] = f"{days[day]}（补假）"
    return {d: n for d, n in sorted(off.items()) if d.year == year}


def provisional_calendar(years: Iterable[int]) -> OfficialCalendar:
    """The calendar computable before a year's notice: weekends, and the statutory holidays of
    《全国年节及纪念日放假办法》 (2024 revision, in force from 2025): 元旦 1 day, 春节 4 (除夕 and
    正月初一至初三), 清明 1, 劳动节 2 (1-2 May), 端午 1, 中秋 1, 国庆 3 (1-3 October), each
    falling on a weekend made up (补假) on the next free weekday. No 调休: only a notice swaps
    weekend days for working days."""
    wanted = frozenset(years)
    names = {d: n for y in sorted(wanted) for d, n in _provisional(y).items()}
    return OfficialCalendar(
        country="CN", years=wanted, holidays=frozenset(names), workdays=frozenset(), names=names
    )


def combine(*calendars: OfficialCalendar) -> OfficialCalendar:
    """One calendar of several covering different years (a later one wins on a shared year)."""
    years: set[int] = set()
    off: dict[date, str] = {}
    work: dict[date, str] = {}
    for cal in calendars:
        years -= cal.years
        off = {d: n for d, n in off.items() if d.year not in cal.years}
        work = {d: n for d, n in work.items() if d.year not in cal.years}
        years |= cal.years
        off |= {d: cal.names.get(d, "") for d in cal.holidays}
        work |= {d: cal.names.get(d, _MAKE_UP) for d in cal.workdays}
    return OfficialCalendar(
        country="CN",
        years=frozenset(years),
        holidays=frozenset(off),
        workdays=frozenset(work),
        names={**off, **work},
    )


def with_provisional(years: Iterable[int]) -> tuple[OfficialCalendar, frozenset[int]]:
    """The package's notices for `years`, the provisional calendar for those without one, and
    which years are provisional (what a tool without the database plans with)."""
    wanted = frozenset(years)
    known = official_calendar("CN", wanted)
    missing = wanted - known.years
    return combine(known, provisional_calendar(missing)), missing


def as_instance_calendar(
    calendar: OfficialCalendar,
    *,
    extra_holidays: frozenset[date] = frozenset(),
    extra_workdays: frozenset[date] = frozenset(),
) -> WorkingCalendar:
    """The working days of `calendar` over its years, in the terms of `quietday.instance/1`: the
    package's official calendar plus `extra_holidays`/`extra_workdays` wherever they differ, so
    that an instance file carries a notice the package lacks and `quietday check` reads it back
    as the same days. The given overrides stay on top."""
    base = WorkingCalendar(official_calendar("CN", calendar.years))
    wanted = WorkingCalendar(calendar, extra_holidays, extra_workdays)
    holidays_, workdays = set(extra_holidays), set(extra_workdays)
    for year in sorted(calendar.years):
        for day in days_between(date(year, 1, 1), date(year, 12, 31)):
            if day in extra_holidays or day in extra_workdays:
                continue
            if year in base.official.years:
                working = base.is_working_day(day)
            else:
                working = day.weekday() < SATURDAY
            if working and not wanted.is_working_day(day):
                holidays_.add(day)
            elif not working and wanted.is_working_day(day):
                workdays.add(day)
    return WorkingCalendar(base.official, frozenset(holidays_), frozenset(workdays))
