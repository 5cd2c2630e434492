"""Queries for the door pages (扫码入企): an agency's published visits of one day with every
plan in them, and the inspectors signed in on a phone. Like `repositories`, they flush and never
commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlmodel import col, select

from quietday.domain.status import PlanStatus, VisitStatus
from quietday.persistence.base import Repository, rows_where_in
from quietday.persistence.tables import (
    DashboardSessionRow,
    EnterpriseRow,
    InspectorRow,
    PlanRow,
    VisitRow,
)

__all__ = ["DayVisit", "DoorRepository"]


@dataclass(frozen=True, slots=True)
class DayVisit:
    visit: VisitRow
    enterprise_name: str
    # Every published plan of the visit, of any agency, by agency and id.
    plans: list[PlanRow]


class DoorRepository(Repository[DashboardSessionRow]):
    """A door sign-in is a `dashboard_session` row of an agency key, with its inspectors."""

    model = DashboardSessionRow
    label = "登录会话"

    def visits_of(self, agency_id: str, day: date) -> list[DayVisit]:
        """The published visits on `day` holding a published plan of `agency_id`, by
        enterprise name."""
        own = select(PlanRow.visit_id).where(
            PlanRow.agency_id == agency_id, PlanRow.status == PlanStatus.PUBLISHED
        )
        rows = self.session.exec(
            select(VisitRow, EnterpriseRow.name, PlanRow)
            .join(EnterpriseRow, col(EnterpriseRow.id) == col(VisitRow.enterprise_id))
            .join(PlanRow, col(PlanRow.visit_id) == col(VisitRow.id))
            .where(
                VisitRow.day == day,
                VisitRow.status == VisitStatus.PUBLISHED,
                col(VisitRow.id).in_(own),
                PlanRow.status == PlanStatus.PUBLISHED,
            )
            .order_by(
                col(EnterpriseRow.name), col(VisitRow.id), col(PlanRow.agency_id), col(PlanRow.id)
            )
        ).all()
        out: dict[int, DayVisit] = {}
        for visit, name, plan in rows:
            out.setdefault(int(visit.id or 0), DayVisit(visit, name, [])).plans.append(plan)
        return list(out.values())

    def inspectors(self, ids: Sequence[int]) -> list[InspectorRow]:
        """The inspectors with these ids, in the order given (missing ones left out)."""
        found = {
            r.id: r for r in rows_where_in(self.session, InspectorRow, col(InspectorRow.id), ids)
        }
        return [found[i] for i in ids if i in found]
