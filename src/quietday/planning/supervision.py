"""The supervisors' view of each agency over one month (监督): its entries (扫码入企), those
without a code (`no_code`) and scanned late (`late_scan`), the complaints about it and how long
they took to close, and high-frequency warnings: enterprises the agency has inspected this
year up to its agency-enterprise cap, or one date below it (Longhua's 高频预警)."""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from quietday.errors import InputError, Problem
from quietday.persistence import Session
from quietday.persistence.mapping import CAPS_SETTING, caps_from_setting
from quietday.persistence.registry import AgencyRepository
from quietday.persistence.settings import SettingRepository
from quietday.persistence.supervision import SupervisionRepository
from quietday.planning.feeds import CHINA
from quietday.planning.frequency import parse_period

__all__ = [
    "LATE_SCAN",
    "NO_CODE",
    "SCAN_FLAGS",
    "AgencyMonth",
    "MonthSupervision",
    "month_bounds",
    "supervision",
]

NO_CODE, LATE_SCAN = "no_code", "late_scan"
SCAN_FLAGS = (NO_CODE, LATE_SCAN)
_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}", re.ASCII)


@dataclass(frozen=True, slots=True)
class AgencyMonth:
    agency_id: str
    agency_name: str
    entries: int
    no_code: int
    late_scan: int
    complaints_filed: int
    complaints_closed: int
    # Hours from filing to closing of the complaints closed in the month.
    median_hours: float | None
    mean_hours: float | None
    at_cap: int
    one_below_cap: int

    @property
    def active(self) -> bool:
        """Something to show this month."""
        return any(
            (self.entries, self.complaints_filed, self.complaints_closed, self.at_cap,
             self.one_below_cap)
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class MonthSupervision:
    month: date
    agencies: list[AgencyMonth]
    # Complaints that name no agency (about a visit or the service as a whole).
    unattributed_filed: int


def month_bounds(month: str) -> tuple[date, date, datetime, datetime]:
    """The month's first and last days, and its start and end as instants in China."""
    if _MONTH.fullmatch(month) is None:
        raise InputError([Problem("bad_month", "month", "月份应为 YYYY-MM,如 2026-07")])
    try:
        period = parse_period(month)
    except InputError:
        raise InputError([Problem("bad_month", "month", "月份应为 YYYY-MM,如 2026-07")]) from None
    after = period.last + timedelta(days=1)
    return (
        period.first,
        period.last,
        datetime.combine(period.first, time(), CHINA),
        datetime.combine(after, time(), CHINA),
    )


def _hours(spans: list[float]) -> tuple[float | None, float | None]:
    if not spans:
        return None, None
    return round(statistics.median(spans), 2), round(statistics.fmean(spans), 2)


def supervision(session: Session, month: str) -> MonthSupervision:
    """Every agency's figures of `month` (YYYY-MM); agencies with nothing are listed too."""
    first, last, start, end = month_bounds(month)
    repo = SupervisionRepository(session)
    entries = repo.entries(first, last)
    flagged = repo.flagged(first, last, SCAN_FLAGS)
    filed = repo.complaints_filed(start, end)
    spans: dict[str | None, list[float]] = {}
    for c in repo.complaints_closed(start, end):
        spans.setdefault(c.agency_id, []).append(
            (c.closed_at - c.created_at).total_seconds() / 3600
        )
    default = caps_from_setting(SettingRepository(session).value(CAPS_SETTING))
    warnings = repo.cap_warnings(
        date(first.year, 1, 1), last, default_cap=default.agency_enterprise_per_year
    )
    rows = []
    for agency in sorted(AgencyRepository(session).list(), key=lambda a: a.id):
        median, mean = _hours(spans.get(agency.id, []))
        warn = warnings.get(agency.id)
        rows.append(
            AgencyMonth(
                agency_id=agency.id,
                agency_name=agency.name,
                entries=entries.get(agency.id, 0),
                no_code=flagged.get((agency.id, NO_CODE), 0),
                late_scan=flagged.get((agency.id, LATE_SCAN), 0),
                complaints_filed=filed.get(agency.id, 0),
                complaints_closed=len(spans.get(agency.id, [])),
                median_hours=median,
                mean_hours=mean,
                at_cap=warn.at_cap if warn else 0,
                one_below_cap=warn.one_below if warn else 0,
            )
        )
    return MonthSupervision(first, rows, filed.get(None, 0))
