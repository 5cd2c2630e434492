"""Working days (statutory holidays and 调休 make-up days) and quiet days (企业安静日).

Pure: the official calendar arrives as data (`OfficialCalendar`); `quietday.official` and
`planning.calendar` fill it (the `holidays` package, the notices kept in the database) so that
this module needs nothing but the standard library.
"""

from __future__ import annotations

import calendar as _stdcal
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from quietday.errors import CalendarError

__all__ = [
    "SATURDAY",
    "OfficialCalendar",
    "QuietPolicy",
    "WorkingCalendar",
    "days_between",
]

SATURDAY = 5


def days_between(start: date, end: date) -> Iterator[date]:
    """Every date from `start` to `end`, both included."""
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)


@dataclass(frozen=True, slots=True)
class OfficialCalendar:
    """A country's published calendar for the years it covers.

    `holidays` are statutory days off (weekends included or not), `workdays` the weekend days
    that are working days by adjustment (调休), `years` the years whose notice is known, `names`
    the name the notice gives each of those days.
    """

    country: str
    years: frozenset[int]
    holidays: frozenset[date]
    workdays: frozenset[date]
    names: dict[date, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """Working days: the official calendar, then `extra_workdays`, then `extra_holidays` on top.

    A year outside the official data is usable only when the instance gives overrides for it;
    such a year counts Monday to Friday as working days before the overrides apply.
    """

    official: OfficialCalendar
    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()

    @property
    def override_years(self) -> frozenset[int]:
        return frozenset(d.year for d in self.extra_holidays | self.extra_workdays)

    def covers(self, year: int) -> bool:
        """True when working days of `year` are known (official data or overrides)."""
        return year in self.official.years or year in self.override_years

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_holidays:
            return False
        if day in self.extra_workdays:
            return True
        if not self.covers(day.year):
            raise CalendarError(
                f"{day.year} 年没有官方节假日安排,也没有给出 extra_holidays/extra_workdays"
            )
        if day.year in self.official.years:
            if day in self.official.holidays:
                return False
            if day in self.official.workdays:
                return True
        return day.weekday() < SATURDAY

    def working_days(self, start: date, end: date) -> list[date]:
        return [d for d in days_between(start, end) if self.is_working_day(d)]


@dataclass(frozen=True, slots=True)
class QuietPolicy:
    """企业安静日: a union of day-of-month ranges, ISO weekdays and explicit dates.

    A range end past the month's last day stops at it; a policy with no rules has no quiet days.
    """

    id: str
    month_days: tuple[tuple[int, int], ...] = ()
    weekdays: frozenset[int] = frozenset()
    dates: frozenset[date] = frozenset()

    def is_quiet(self, day: date) -> bool:
        if day in self.dates or day.isoweekday() in self.weekdays:
            return True
        last = _stdcal.monthrange(day.year, day.month)[1]
        return any(lo <= day.day <= min(hi, last) for lo, hi in self.month_days)

    def quiet_days(self, days: Iterable[date]) -> frozenset[date]:
        return frozenset(d for d in days if self.is_quiet(d))

    def describe(self) -> str:
        """A short Chinese description, e.g. `每月1-20日、周一至周四`."""
        parts = [f"每月{lo}-{hi}日" for lo, hi in self.month_days]
        if self.weekdays:
            names = "、".join("周" + "一二三四五六日"[w - 1] for w in sorted(self.weekdays))
            parts.append(names)
        if self.dates:
            parts.append(f"{len(self.dates)} 个指定日期")
        return "、".join(parts) if parts else "无安静日"
