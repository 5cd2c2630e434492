"""The official working-day calendar of a country, read from the `holidays` package.

For China that is the State Council's yearly notice: statutory holidays and the weekend days made
working days (调休). A year counts as official only when the package holds that year's notice;
its later years are estimates, which the scheduler refuses without explicit overrides.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import lru_cache

import holidays
from holidays.countries.china import ChinaStaticHolidays

from quietday.domain.calendar import OfficialCalendar

__all__ = ["SUPPORTED_COUNTRIES", "official_calendar", "official_years"]

SUPPORTED_COUNTRIES = ("CN",)
# The package records each published State Council notice as that year's special holidays.
_CN_NOTICE_YEARS = frozenset(y for y in ChinaStaticHolidays.special_public_holidays if y >= 2001)


def official_years(country: str) -> frozenset[int]:
    if country != "CN":
        raise ValueError(f"unsupported country {country!r}")
    return _CN_NOTICE_YEARS


@lru_cache(maxsize=32)
def _calendar(country: str, years: tuple[int, ...]) -> OfficialCalendar:
    known = tuple(y for y in years if y in official_years(country))
    table = holidays.country_holidays(country, years=known, language="zh_CN") if known else {}
    wanted = set(known)
    off = {d: str(name) for d, name in table.items() if d.year in wanted}
    workdays = frozenset(
        d
        for d in getattr(table, "weekend_workdays", ())
        if isinstance(d, date) and d.year in wanted
    )
    return OfficialCalendar(
        country=country,
        years=frozenset(known),
        holidays=frozenset(off),
        workdays=workdays,
        names=off,
    )


def official_calendar(country: str, years: Iterable[int]) -> OfficialCalendar:
    """The official calendar of `country` for those of `years` whose notice is published."""
    return _calendar(country, tuple(sorted(set(years))))
