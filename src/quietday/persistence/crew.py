"""Queries of 随机选派: declared conflicts (回避), an agency's visits of a month with the seeds of
the runs that published them, an inspector's coming visits (and taking them off). Like every repository, they flush and never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, select

from quietday.domain.status import PlanStatus, VisitStatus
from quietday.persistence.base import Repository, in_conditions
from quietday.persistence.tables import (
    CheckInRow,
    InspectorConflictRow,
    InspectorRow,
    PlanRow,
    RunRow,
    VisitInspectorRow,
    VisitRow,
)

__all__ = [
    "AgencyVisit",
    "InspectorConflictRepository",
    "TeamVisit",
    "agency_visits",
    "run_seeds",
    "take_off",
    "visits_of_inspector",
]


class InspectorConflictRepository(Repository[InspectorConflictRow]):
    model = InspectorConflictRow
    label = "回避记录"

    def of_agency(self, agency_id: str) -> Sequence[InspectorConflictRow]:
        """The conflicts declared for the agency's inspectors, by inspector then enterprise."""
        return self.session.exec(
            select(InspectorConflictRow)
            .join(InspectorRow, col(InspectorRow.id) == col(InspectorConflictRow.inspector_id))
            .where(InspectorRow.agency_id == agency_id)
            .order_by(
                col(InspectorConflictRow.inspector_id), col(InspectorConflictRow.enterprise_id)
            )
        ).all()

    def find(self, inspector_id: int, enterprise_id: str) -> InspectorConflictRow | None:
        return self.session.exec(
            select(InspectorConflictRow).where(
                InspectorConflictRow.inspector_id == inspector_id,
                InspectorConflictRow.enterprise_id == enterprise_id,
            )
        ).first()

    def pairs(self, inspector_ids: Iterable[int]) -> dict[tuple[int, str], str]:
        """(inspector, enterprise) -> reason, for these inspectors."""
        out: dict[tuple[int, str], str] = {}
        for where in in_conditions(
            self.session, col(InspectorConflictRow.inspector_id), inspector_ids
        ):
            for inspector_id, enterprise_id, reason in self.session.execute(
                sa.select(
                    col(InspectorConflictRow.inspector_id),
                    col(InspectorConflictRow.enterprise_id),
                    col(InspectorConflictRow.reason),
                ).where(where)
            ):
                out[int(inspector_id), str(enterprise_id)] = str(reason)
        return out


@dataclass(frozen=True, slots=True)
class AgencyVisit:
    visit_id: int
    enterprise_id: str
    day: date
    run_id: int | None


def agency_visits(session: Session, agency_id: str, first: date, last: date) -> list[AgencyVisit]:
    """The published visits between two days holding a published plan of the agency, by day
    then id."""
    query = (
        sa.select(
            col(VisitRow.id), col(VisitRow.enterprise_id), col(VisitRow.day), col(VisitRow.run_id)
        )
        .where(
            col(VisitRow.day) >= first,
            col(VisitRow.day) <= last,
            col(VisitRow.status) == VisitStatus.PUBLISHED,
            col(VisitRow.id).in_(
                sa.select(col(PlanRow.visit_id)).where(
                    col(PlanRow.agency_id) == agency_id,
                    col(PlanRow.status) == PlanStatus.PUBLISHED,
                    col(PlanRow.visit_id).is_not(None),
                )
            ),
        )
        .order_by(col(VisitRow.day), col(VisitRow.id))
    )
    return [
        AgencyVisit(visit_id=int(v), enterprise_id=str(e), day=d, run_id=r)
        for v, e, d, r in session.execute(query)
    ]


def run_seeds(session: Session, run_ids: Iterable[int]) -> dict[int, int]:
    """The seed of each of these runs."""
    out: dict[int, int] = {}
    for where in in_conditions(session, col(RunRow.id), run_ids):
        for run_id, seed in session.execute(
            sa.select(col(RunRow.id), col(RunRow.seed)).where(where)
        ):
            out[int(run_id)] = int(seed)
    return out


@dataclass(frozen=True, slots=True)
class TeamVisit:
    visit_id: int
    enterprise_id: str
    day: date


def visits_of_inspector(
    session: Session, inspector_id: int, *, first: date, enterprise_id: str | None = None
) -> list[TeamVisit]:
    """The published visits from `first` on that the inspector is sent on (of one enterprise,
    when given) and that have no check-in (the record), by day then id."""
    query = (
        sa.select(col(VisitRow.id), col(VisitRow.enterprise_id), col(VisitRow.day))
        .join(VisitInspectorRow, col(VisitInspectorRow.visit_id) == col(VisitRow.id))
        .where(
            col(VisitInspectorRow.inspector_id) == inspector_id,
            col(VisitRow.day) >= first,
            col(VisitRow.status) == VisitStatus.PUBLISHED,
            ~sa.exists().where(col(CheckInRow.visit_id) == col(VisitRow.id)),
        )
        .order_by(col(VisitRow.day), col(VisitRow.id))
    )
    if enterprise_id is not None:
        query = query.where(col(VisitRow.enterprise_id) == enterprise_id)
    return [
        TeamVisit(visit_id=int(v), enterprise_id=str(e), day=d)
        for v, e, d in session.execute(query)
    ]


def take_off(session: Session, inspector_id: int, visit_ids: Iterable[int]) -> None:
    """The inspector is no longer sent on these visits."""
    for where in in_conditions(session, col(VisitInspectorRow.visit_id), visit_ids):
        session.execute(
            sa.delete(VisitInspectorRow).where(
                col(VisitInspectorRow.inspector_id) == inspector_id, where
            )
        )
    session.flush()
