"""Queries of the supervisors' dashboard: figures aggregated in SQL over a range of days."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from quietday.domain.status import PlanStatus, VisitStatus
from quietday.persistence.tables import (
    AgencyRow,
    EnterpriseRow,
    HistoryRow,
    PlanRow,
    RiskClassPolicyRow,
    VisitRow,
)

__all__ = [
    "CapCounts",
    "DashboardRepository",
    "MonthTotals",
    "PairUse",
    "QuietCandidate",
    "VisitLine",
]

_CAPPED = ("routine", "special")


@dataclass(frozen=True, slots=True)
class MonthTotals:
    """Published visits in a period: how many, their inspections, and how they were joined."""

    visits: int
    inspections: int
    joint_visits: int
    joint_inspections: int
    agency_visits: int


@dataclass(frozen=True, slots=True)
class QuietCandidate:
    """A published inspection that may fall on a quiet or blackout day of its enterprise."""

    plan_id: int
    day: date
    enterprise_id: str
    enterprise_name: str
    quiet_policy_id: str
    blackout: list[str]
    agency_id: str
    agency_name: str
    kind: str
    exempt_reason: str | None


@dataclass(frozen=True, slots=True)
class PairUse:
    """Distinct capped inspection dates of one agency at one enterprise, and the pair's cap."""

    agency_id: str
    agency_name: str
    enterprise_id: str
    enterprise_name: str
    used: int
    cap: int


@dataclass(frozen=True, slots=True)
class CapCounts:
    """How many agency-enterprise pairs are over their cap, at it, and one below it."""

    over: int
    at: int
    below: int


@dataclass(frozen=True, slots=True)
class VisitLine:
    """A published visit of one enterprise with the agencies and kinds of its inspections."""

    visit_id: int
    day: date
    lead_agency_id: str
    agencies: list[tuple[str, str]]
    kinds: list[str]
    exempt_reasons: list[str]


class DashboardRepository:
    """Aggregates of the published schedule for the supervisors' dashboard. Every query is
    bounded by a date range on `visit.day` (indexed) or by one agency or enterprise (indexed),
    and aggregates in SQL: nothing loads a month's visits into Python."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def latest_visit_day(self) -> date | None:
        latest: date | None = self.session.execute(
            sa.select(sa.func.max(col(VisitRow.day))).where(
                col(VisitRow.status) == VisitStatus.PUBLISHED
            )
        ).scalar_one()
        return latest

    def month_totals(self, first: date, last: date) -> MonthTotals:
        per_visit = (
            select(
                col(VisitRow.id).label("visit_id"),
                sa.func.count(col(PlanRow.id)).label("inspections"),
                sa.func.count(sa.distinct(col(PlanRow.agency_id))).label("agencies"),
            )
            .join(VisitRow, col(VisitRow.id) == col(PlanRow.visit_id))
            .where(
                col(PlanRow.status) == PlanStatus.PUBLISHED,
                col(VisitRow.status) == VisitStatus.PUBLISHED,
            )
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            .group_by(col(VisitRow.id))
            .subquery()
        )
        joint = per_visit.c.agencies >= 2
        row = self.session.execute(
            sa.select(
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(per_visit.c.inspections), 0),
                sa.func.coalesce(sa.func.sum(sa.case((joint, 1), else_=0)), 0),
                sa.func.coalesce(
                    sa.func.sum(sa.case((joint, per_visit.c.inspections), else_=0)), 0
                ),
                sa.func.coalesce(sa.func.sum(per_visit.c.agencies), 0),
            )
        ).one()
        return MonthTotals(*(int(v) for v in row))

    def visits_per_day(self, first: date, last: date) -> dict[date, int]:
        rows = self.session.execute(
            sa.select(col(VisitRow.day), sa.func.count())
            .where(col(VisitRow.status) == VisitStatus.PUBLISHED)
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            .group_by(col(VisitRow.day))
        ).all()
        return {day: int(n) for day, n in rows}

    def inspections_by_kind(self, first: date, last: date) -> dict[str, int]:
        rows = self.session.execute(
            sa.select(col(PlanRow.kind), sa.func.count())
            .join(VisitRow, col(VisitRow.id) == col(PlanRow.visit_id))
            .where(
                col(PlanRow.status) == PlanStatus.PUBLISHED,
                col(VisitRow.status) == VisitStatus.PUBLISHED,
            )
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            .group_by(col(PlanRow.kind))
        ).all()
        return {kind: int(n) for kind, n in rows}

    def visits_per_agency(self, first: date, last: date) -> list[tuple[str, str, int]]:
        """(agency id, name, visits it takes part in), most visits first."""
        visits = sa.func.count(sa.distinct(col(VisitRow.id)))
        rows = self.session.execute(
            sa.select(col(AgencyRow.id), col(AgencyRow.name), visits)
            .join(PlanRow, col(PlanRow.agency_id) == col(AgencyRow.id))
            .join(VisitRow, col(VisitRow.id) == col(PlanRow.visit_id))
            .where(
                col(PlanRow.status) == PlanStatus.PUBLISHED,
                col(VisitRow.status) == VisitStatus.PUBLISHED,
            )
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            .group_by(col(AgencyRow.id), col(AgencyRow.name))
            .order_by(visits.desc(), col(AgencyRow.id))
        ).all()
        return [(a, name, int(n)) for a, name, n in rows]

    def most_visited(
        self, first: date, last: date, *, limit: int, agency_id: str | None = None
    ) -> list[tuple[str, str, int]]:
        """(enterprise id, name, visits), most visited first; with `agency_id`, that agency's."""
        visits = sa.func.count(sa.distinct(col(VisitRow.id)))
        query = (
            sa.select(col(EnterpriseRow.id), col(EnterpriseRow.name), visits)
            .join(VisitRow, col(VisitRow.enterprise_id) == col(EnterpriseRow.id))
            .where(col(VisitRow.status) == VisitStatus.PUBLISHED)
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            .group_by(col(EnterpriseRow.id), col(EnterpriseRow.name))
            .order_by(visits.desc(), col(EnterpriseRow.id))
            .limit(limit)
        )
        if agency_id is not None:
            query = query.join(PlanRow, col(PlanRow.visit_id) == col(VisitRow.id)).where(
                col(PlanRow.agency_id) == agency_id, col(PlanRow.status) == PlanStatus.PUBLISHED
            )
        return [(e, name, int(n)) for e, name, n in self.session.execute(query).all()]

    def quiet_candidates(
        self, first: date, last: date, quiet: dict[str, list[date]]
    ) -> list[QuietCandidate]:
        """Published inspections on one of their policy's `quiet` dates, or on a date written
        in their enterprise's blackout list (the caller checks each exactly)."""
        on_quiet = [
            sa.and_(col(EnterpriseRow.quiet_policy_id) == policy, col(VisitRow.day).in_(days))
            for policy, days in sorted(quiet.items())
            if days
        ]
        on_blackout = sa.cast(EnterpriseRow.blackout, sa.String).like(
            sa.literal("%") + sa.cast(VisitRow.day, sa.String) + sa.literal("%")
        )
        rows = self.session.execute(
            sa.select(
                col(PlanRow.id),
                col(VisitRow.day),
                col(EnterpriseRow.id),
                col(EnterpriseRow.name),
                col(EnterpriseRow.quiet_policy_id),
                col(EnterpriseRow.blackout),
                col(AgencyRow.id),
                col(AgencyRow.name),
                col(PlanRow.kind),
                col(PlanRow.exempt_reason),
            )
            .join(VisitRow, col(VisitRow.id) == col(PlanRow.visit_id))
            .join(EnterpriseRow, col(EnterpriseRow.id) == col(VisitRow.enterprise_id))
            .join(AgencyRow, col(AgencyRow.id) == col(PlanRow.agency_id))
            .where(
                col(PlanRow.status) == PlanStatus.PUBLISHED,
                col(VisitRow.status) == VisitStatus.PUBLISHED,
            )
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            .where(sa.or_(*on_quiet, on_blackout))
            .order_by(col(VisitRow.day), col(PlanRow.id))
        ).all()
        return [
            QuietCandidate(
                int(r[0] or 0), r[1], r[2], r[3], r[4], list(r[5]), r[6], r[7], r[8], r[9]
            )
            for r in rows
        ]

    def _cap_of_enterprise(self, default_cap: int | None) -> Any:
        """`agency_enterprise_per_year` of each enterprise in SQL: its override when it has one
        (an explicit JSON null there means no cap), else its credit-risk class's (null: no
        cap), else `default_cap` (None: no cap)."""
        key = "agency_enterprise_per_year"
        overrides = col(EnterpriseRow.cap_overrides)
        if self.session.get_bind().dialect.name == "sqlite":
            explicit_null = sa.func.json_type(overrides, f'$."{key}"') == "null"
        else:
            explicit_null = sa.func.json_typeof(overrides.op("->")(key)) == "null"
        own = overrides[key].as_integer()
        of_class = col(RiskClassPolicyRow.risk_class) == col(EnterpriseRow.risk_class)
        class_cap = (
            sa.select(col(RiskClassPolicyRow.agency_enterprise_per_year))
            .where(of_class)
            .scalar_subquery()
        )
        return sa.case(
            (explicit_null, sa.null()),
            (own.is_not(None), own),
            (sa.exists().where(of_class), class_cap),
            else_=sa.literal(default_cap, sa.Integer),
        )

    def cap_pairs(
        self,
        first: date,
        last: date,
        *,
        default_cap: int | None,
        agency_id: str | None = None,
        enterprise_id: str | None = None,
        limit: int,
    ) -> tuple[CapCounts, list[PairUse]]:
        """Agency-enterprise pairs whose distinct capped dates (routine and special, published
        or imported as history) between `first` and `last` reach their cap minus one: how many
        are over, at and one below the cap, and the first `limit` of them, most over first."""
        planned = (
            sa.select(col(PlanRow.agency_id), col(PlanRow.enterprise_id), col(VisitRow.day))
            .join(VisitRow, col(VisitRow.id) == col(PlanRow.visit_id))
            .where(
                col(PlanRow.status) == PlanStatus.PUBLISHED,
                col(VisitRow.status) == VisitStatus.PUBLISHED,
            )
            .where(col(PlanRow.kind).in_(_CAPPED))
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
        )
        history = (
            sa.select(col(HistoryRow.agency_id), col(HistoryRow.enterprise_id), col(HistoryRow.day))
            .where(col(HistoryRow.kind).in_(_CAPPED))
            .where(col(HistoryRow.day) >= first, col(HistoryRow.day) <= last)
        )
        if agency_id is not None:
            planned = planned.where(col(PlanRow.agency_id) == agency_id)
            history = history.where(col(HistoryRow.agency_id) == agency_id)
        if enterprise_id is not None:
            planned = planned.where(col(PlanRow.enterprise_id) == enterprise_id)
            history = history.where(col(HistoryRow.enterprise_id) == enterprise_id)
        dates = sa.union(planned, history).subquery()
        used = (
            sa.select(dates.c.agency_id, dates.c.enterprise_id, sa.func.count().label("used"))
            .group_by(dates.c.agency_id, dates.c.enterprise_id)
            .subquery()
        )
        cap = self._cap_of_enterprise(default_cap)
        near = (
            sa.select(
                used.c.agency_id,
                col(AgencyRow.name).label("agency_name"),
                used.c.enterprise_id,
                col(EnterpriseRow.name).label("enterprise_name"),
                used.c.used,
                cap.label("cap"),
            )
            .join(AgencyRow, col(AgencyRow.id) == used.c.agency_id)
            .join(EnterpriseRow, col(EnterpriseRow.id) == used.c.enterprise_id)
            .where(cap.is_not(None), used.c.used >= cap - 1)
            .subquery()
        )
        # One pass: the counts are window sums over every pair, taken before the LIMIT.
        rows = self.session.execute(
            sa.select(
                near,
                sa.func.sum(sa.case((near.c.used > near.c.cap, 1), else_=0)).over(),
                sa.func.sum(sa.case((near.c.used == near.c.cap, 1), else_=0)).over(),
                sa.func.sum(sa.case((near.c.used < near.c.cap, 1), else_=0)).over(),
            )
            .order_by((near.c.used - near.c.cap).desc(), near.c.agency_id, near.c.enterprise_id)
            .limit(limit)
        ).all()
        counts = CapCounts(*(int(n) for n in rows[0][6:])) if rows else CapCounts(0, 0, 0)
        return counts, [PairUse(r[0], r[1], r[2], r[3], int(r[4]), int(r[5])) for r in rows]

    def visit_lines(self, enterprise_id: str, first: date, last: date) -> list[VisitLine]:
        """The enterprise's published visits between two dates, with their agencies."""
        rows = self.session.execute(
            sa.select(
                col(VisitRow.id),
                col(VisitRow.day),
                col(VisitRow.lead_agency_id),
                col(AgencyRow.id),
                col(AgencyRow.name),
                col(PlanRow.kind),
                col(PlanRow.exempt_reason),
            )
            .join(PlanRow, col(PlanRow.visit_id) == col(VisitRow.id))
            .join(AgencyRow, col(AgencyRow.id) == col(PlanRow.agency_id))
            .where(
                col(VisitRow.enterprise_id) == enterprise_id,
                col(VisitRow.status) == VisitStatus.PUBLISHED,
            )
            .where(col(PlanRow.status) == PlanStatus.PUBLISHED)
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            .order_by(col(VisitRow.day), col(AgencyRow.id), col(PlanRow.id))
        ).all()
        lines: dict[int, VisitLine] = {}
        for vid, day, lead, agency, name, kind, reason in rows:
            line = lines.setdefault(int(vid or 0), VisitLine(int(vid or 0), day, lead, [], [], []))
            if (agency, name) not in line.agencies:
                line.agencies.append((agency, name))
            line.kinds.append(kind)
            if reason:
                line.exempt_reasons.append(reason)
        return list(lines.values())

    def agency_days(self, agency_id: str, first: date, last: date) -> dict[date, int]:
        """Visits the agency takes part in, per day."""
        rows = self.session.execute(
            sa.select(col(VisitRow.day), sa.func.count(sa.distinct(col(VisitRow.id))))
            .join(PlanRow, col(PlanRow.visit_id) == col(VisitRow.id))
            .where(col(PlanRow.agency_id) == agency_id, col(PlanRow.status) == PlanStatus.PUBLISHED)
            .where(col(VisitRow.status) == VisitStatus.PUBLISHED)
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            .group_by(col(VisitRow.day))
        ).all()
        return {day: int(n) for day, n in rows}

    def agencies_with_visits(self, first: date, last: date) -> list[tuple[AgencyRow, int]]:
        """Every agency with the visits it takes part in between two dates (zero included),
        the busiest first."""
        visits = (
            select(PlanRow.agency_id, sa.func.count(sa.distinct(col(VisitRow.id))).label("visits"))
            .join(VisitRow, col(VisitRow.id) == col(PlanRow.visit_id))
            .where(
                col(PlanRow.status) == PlanStatus.PUBLISHED,
                col(VisitRow.status) == VisitStatus.PUBLISHED,
            )
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            .group_by(col(PlanRow.agency_id))
            .subquery()
        )
        taken = sa.func.coalesce(visits.c.visits, 0)
        rows = self.session.execute(
            sa.select(AgencyRow, taken)
            .outerjoin(visits, visits.c.agency_id == col(AgencyRow.id))
            .order_by(taken.desc(), col(AgencyRow.id))
        ).all()
        return [(agency, int(n)) for agency, n in rows]

    def search_enterprises(self, text: str, *, limit: int) -> Sequence[EnterpriseRow]:
        """Enterprises whose name contains `text` or whose code starts with it."""
        pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return self.session.exec(
            select(EnterpriseRow)
            .where(
                sa.or_(
                    col(EnterpriseRow.name).like(f"%{pattern}%", escape="\\"),
                    col(EnterpriseRow.id).like(f"{pattern.upper()}%", escape="\\"),
                )
            )
            .order_by(col(EnterpriseRow.id))
            .limit(limit)
        ).all()
