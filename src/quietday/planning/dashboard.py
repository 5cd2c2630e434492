"""Figures of the published schedule for the supervisors' dashboard, as plain dataclasses.

Each figure is one small function over a session and a period; a page composes the ones it shows.
Quiet days come from the domain's `QuietPolicy`, working days from the official calendar the
supervisor keeps (`planning.calendar`: a year without a notice is provisional).
"""

from __future__ import annotations

import calendar as _stdcal
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from quietday.domain.calendar import QuietPolicy, days_between
from quietday.domain.model import Kind
from quietday.persistence import Session
from quietday.persistence.dashboard import DashboardRepository, VisitLine
from quietday.persistence.mapping import caps_from_setting, policy_from_row
from quietday.persistence.registry import AgencyRepository, EnterpriseRepository, PolicyRepository
from quietday.persistence.settings import SettingRepository
from quietday.persistence.tables import AgencyRow, EnterpriseRow
from quietday.planning.calendar import working_calendar
from quietday.planning.registry import CAPS_SETTING

__all__ = [
    "KIND_LABELS",
    "SHANGHAI",
    "AgencyCapacity",
    "AgencyListing",
    "Count",
    "EnterpriseListing",
    "MonthSummary",
    "NearCap",
    "NearCaps",
    "QuietException",
    "agency_capacity",
    "agency_listing",
    "agency_of",
    "default_month",
    "enterprise_listing",
    "enterprise_visits",
    "inspections_by_kind",
    "local_today",
    "month_bounds",
    "month_summary",
    "most_visited",
    "near_cap_pairs",
    "quiet_day_exceptions",
    "visits_per_agency",
    "visits_per_day",
]

SHANGHAI = ZoneInfo("Asia/Shanghai")
KIND_LABELS = {k.value: k.label for k in Kind}


@dataclass(frozen=True, slots=True)
class Count:
    """One bar or slice: what (an id, a date or a kind), its label, and how many."""

    key: str
    label: str
    value: int


@dataclass(frozen=True, slots=True)
class MonthSummary:
    """The KPI cards: published visits and inspections, and how well they were joined."""

    visits: int
    inspections: int
    joint_visits: int
    joint_inspections: int
    saved_door_openings: int

    @property
    def joint_rate(self) -> float:
        """综合查一次率: the share of visits in which two or more agencies come together."""
        return self.joint_visits / self.visits if self.visits else 0.0

    @property
    def joint_inspection_share(self) -> float:
        """The share of inspections carried out in a joint visit."""
        return self.joint_inspections / self.inspections if self.inspections else 0.0


@dataclass(frozen=True, slots=True)
class QuietException:
    """A published inspection on a quiet or blackout day of its enterprise: allowed only with
    an exempt reason (`reason` None is a breach of the 企业安静日 rule)."""

    plan_id: int
    day: date
    enterprise_id: str
    enterprise_name: str
    agency_id: str
    agency_name: str
    kind: str
    reason: str | None
    blackout: bool

    @property
    def kind_label(self) -> str:
        return Kind(self.kind).label


@dataclass(frozen=True, slots=True)
class NearCap:
    """An agency-enterprise pair at or one below its yearly cap (同一部门对同一企业年度检查上限)."""

    agency_id: str
    agency_name: str
    enterprise_id: str
    enterprise_name: str
    used: int
    cap: int

    @property
    def over(self) -> bool:
        return self.used > self.cap

    @property
    def at_cap(self) -> bool:
        return self.used == self.cap


@dataclass(frozen=True, slots=True)
class NearCaps:
    """Pairs over, at and one below their cap, and the first of them (most over first)."""

    over: int
    at: int
    below: int
    pairs: list[NearCap]

    @property
    def total(self) -> int:
        return self.over + self.at + self.below


@dataclass(frozen=True, slots=True)
class AgencyCapacity:
    """One month of an agency: visits it takes part in against what its capacity allows."""

    month: date
    visits: int
    capacity: int
    full_days: int

    @property
    def use(self) -> float:
        return self.visits / self.capacity if self.capacity else 0.0


@dataclass(frozen=True, slots=True)
class EnterpriseListing:
    enterprise: EnterpriseRow
    policy: str


@dataclass(frozen=True, slots=True)
class AgencyListing:
    agency: AgencyRow
    visits: int


def local_today(now: datetime) -> date:
    """Today in China (Asia/Shanghai), whatever the server's zone."""
    return now.astimezone(SHANGHAI).date()


def month_bounds(month: date) -> tuple[date, date]:
    first = month.replace(day=1)
    return first, first.replace(day=_stdcal.monthrange(first.year, first.month)[1])


def default_month(session: Session, today: date) -> date:
    """The current month when it has published visits; else the month of the latest published
    visit (a schedule published ahead, or one that ended); else the current month."""
    first, last = month_bounds(today)
    repo = DashboardRepository(session)
    if repo.visits_per_day(first, last):
        return first
    latest = repo.latest_visit_day()
    return latest.replace(day=1) if latest is not None else first


def month_summary(session: Session, month: date) -> MonthSummary:
    t = DashboardRepository(session).month_totals(*month_bounds(month))
    return MonthSummary(
        visits=t.visits,
        inspections=t.inspections,
        joint_visits=t.joint_visits,
        joint_inspections=t.joint_inspections,
        saved_door_openings=t.agency_visits - t.visits,
    )


def visits_per_day(session: Session, month: date) -> list[Count]:
    """Every day of the month, zeros included."""
    first, last = month_bounds(month)
    counts = DashboardRepository(session).visits_per_day(first, last)
    return [Count(d.isoformat(), f"{d.day}日", counts.get(d, 0)) for d in days_between(first, last)]


def inspections_by_kind(session: Session, month: date) -> list[Count]:
    counts = DashboardRepository(session).inspections_by_kind(*month_bounds(month))
    return [Count(k.value, k.label, counts[k.value]) for k in Kind if counts.get(k.value)]


def visits_per_agency(session: Session, month: date, *, limit: int = 15) -> list[Count]:
    rows = DashboardRepository(session).visits_per_agency(*month_bounds(month))
    return [Count(a, name, n) for a, name, n in rows[:limit]]


def most_visited(
    session: Session, first: date, last: date, *, limit: int = 10, agency_id: str | None = None
) -> list[Count]:
    rows = DashboardRepository(session).most_visited(first, last, limit=limit, agency_id=agency_id)
    return [Count(e, name, n) for e, name, n in rows]


def _policies(session: Session) -> dict[str, QuietPolicy]:
    return {row.id: policy_from_row(row) for row in PolicyRepository(session).list()}


def quiet_day_exceptions(session: Session, month: date) -> list[QuietException]:
    """Published inspections of the month on a quiet day (by the enterprise's policy) or a
    blackout date of their enterprise, with their exempt reasons."""
    first, last = month_bounds(month)
    days = list(days_between(first, last))
    policies = _policies(session)
    quiet = {pid: sorted(p.quiet_days(days)) for pid, p in policies.items()}
    out: list[QuietException] = []
    for c in DashboardRepository(session).quiet_candidates(first, last, quiet):
        blackout = c.day.isoformat() in c.blackout
        policy = policies.get(c.quiet_policy_id)
        if blackout or (policy is not None and policy.is_quiet(c.day)):
            out.append(
                QuietException(
                    plan_id=c.plan_id,
                    day=c.day,
                    enterprise_id=c.enterprise_id,
                    enterprise_name=c.enterprise_name,
                    agency_id=c.agency_id,
                    agency_name=c.agency_name,
                    kind=c.kind,
                    reason=c.exempt_reason or None,
                    blackout=blackout,
                )
            )
    return out


def near_cap_pairs(
    session: Session,
    year: int,
    *,
    agency_id: str | None = None,
    enterprise_id: str | None = None,
    limit: int = 100,
) -> NearCaps:
    """Agency-enterprise pairs whose capped (routine and special) inspection dates in `year`,
    published or imported as history, reach the yearly cap or one below it (the enterprise's
    cap overrides apply): how many of each, and the first `limit`, most over first."""
    default = caps_from_setting(SettingRepository(session).value(CAPS_SETTING))
    counts, rows = DashboardRepository(session).cap_pairs(
        date(year, 1, 1),
        date(year, 12, 31),
        default_cap=default.agency_enterprise_per_year,
        agency_id=agency_id,
        enterprise_id=enterprise_id,
        limit=limit,
    )
    return NearCaps(
        over=counts.over,
        at=counts.at,
        below=counts.below,
        pairs=[
            NearCap(r.agency_id, r.agency_name, r.enterprise_id, r.enterprise_name, r.used, r.cap)
            for r in rows
        ],
    )


def agency_capacity(session: Session, agency_id: str, year: int) -> list[AgencyCapacity]:
    """Per month of `year`: the agency's visits, its capacity (enterprises a day over the
    working days, dated overrides included) and the days it was fully booked."""
    agency = agency_of(session, agency_id)
    first, last = date(year, 1, 1), date(year, 12, 31)
    per_day = DashboardRepository(session).agency_days(agency_id, first, last)
    overrides = {c.day: c.capacity for c in AgencyRepository(session).capacity_overrides(agency_id)}
    calendar, _ = working_calendar(session, [year])
    known = calendar.covers(year)
    out: list[AgencyCapacity] = []
    for m in range(1, 13):
        start, end = month_bounds(date(year, m, 1))
        days = calendar.working_days(start, end) if known else []
        cap = {d: overrides.get(d, agency.daily_capacity) for d in days}
        visits = sum(n for d, n in per_day.items() if start <= d <= end)
        full = sum(1 for d, n in per_day.items() if start <= d <= end and n >= cap.get(d, 0))
        out.append(AgencyCapacity(start, visits, sum(cap.values()), full))
    return out


def enterprise_visits(
    session: Session, enterprise_id: str, year: int
) -> tuple[EnterpriseListing, list[VisitLine]]:
    """An enterprise with its quiet policy described, and its published visits in `year`."""
    row = EnterpriseRepository(session).get_or_raise(enterprise_id)
    policy = PolicyRepository(session).get(row.quiet_policy_id)
    described = policy_from_row(policy).describe() if policy is not None else "未知规则"
    lines = DashboardRepository(session).visit_lines(
        enterprise_id, date(year, 1, 1), date(year, 12, 31)
    )
    return EnterpriseListing(row, described), lines


def enterprise_listing(session: Session, text: str, *, limit: int = 50) -> list[EnterpriseListing]:
    """Enterprises found by name or 统一社会信用代码 prefix, with their quiet policy."""
    rows = DashboardRepository(session).search_enterprises(text.strip(), limit=limit)
    policies = _policies(session)
    return [
        EnterpriseListing(
            r,
            policies[r.quiet_policy_id].describe() if r.quiet_policy_id in policies else "未知规则",
        )
        for r in rows
    ]


def agency_listing(session: Session, year: int) -> list[AgencyListing]:
    rows = DashboardRepository(session).agencies_with_visits(date(year, 1, 1), date(year, 12, 31))
    return [AgencyListing(a, n) for a, n in rows]


def agency_of(session: Session, agency_id: str) -> AgencyRow:
    return AgencyRepository(session).get_or_raise(agency_id)
