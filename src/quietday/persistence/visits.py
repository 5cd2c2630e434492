"""Queries of published visits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from quietday.persistence.base import Repository, chunked, in_conditions
from quietday.persistence.tables import (
    CheckInRow,
    PlanRow,
    VisitInspectorRow,
    VisitRow,
)

__all__ = ["VisitRepository"]


def _visits_of_agency(agency_id: str) -> Any:
    """The visits an agency takes part in, and those its cancelled plans left."""
    return sa.union(
        sa.select(col(PlanRow.visit_id)).where(
            col(PlanRow.agency_id) == agency_id, col(PlanRow.visit_id).is_not(None)
        ),
        sa.select(col(PlanRow.cancelled_visit_id)).where(
            col(PlanRow.agency_id) == agency_id, col(PlanRow.cancelled_visit_id).is_not(None)
        ),
    )


class VisitRepository(Repository[VisitRow]):
    model = VisitRow
    label = "入企"

    def _between(self, first: date, last: date) -> SelectOfScalar[VisitRow]:
        return (
            select(VisitRow)
            .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            .order_by(col(VisitRow.day), col(VisitRow.id))
        )

    def _subject(self, query: Any, kind: str, subject: str) -> Any:
        if kind == "enterprise":
            return query.where(VisitRow.enterprise_id == subject)
        if kind == "agency":
            return query.where(col(VisitRow.id).in_(_visits_of_agency(subject)))
        sent = select(VisitInspectorRow.visit_id).where(
            VisitInspectorRow.inspector_id == int(subject)
        )
        return query.where(col(VisitRow.id).in_(sent))

    def of_subject(self, kind: str, subject: str, first: date, last: date) -> Sequence[VisitRow]:
        query: SelectOfScalar[VisitRow] = self._subject(self._between(first, last), kind, subject)
        return self.session.exec(query).all()

    def page(
        self,
        *,
        after: int | None,
        limit: int,
        day_from: date | None = None,
        day_to: date | None = None,
        enterprise_id: str | None = None,
        agency_id: str | None = None,
    ) -> Sequence[VisitRow]:
        """Visits by id; with `agency_id`, those holding one of that agency's plans."""
        query = select(VisitRow).order_by(col(VisitRow.id)).limit(limit)
        if after is not None:
            query = query.where(col(VisitRow.id) > after)
        if day_from is not None:
            query = query.where(col(VisitRow.day) >= day_from)
        if day_to is not None:
            query = query.where(col(VisitRow.day) <= day_to)
        if enterprise_id is not None:
            query = query.where(VisitRow.enterprise_id == enterprise_id)
        if agency_id is not None:
            query = query.where(col(VisitRow.id).in_(_visits_of_agency(agency_id)))
        return self.session.exec(query).all()

    def by_ids(self, ids: Iterable[int]) -> list[VisitRow]:
        out: list[VisitRow] = []
        for where in in_conditions(self.session, col(VisitRow.id), ids):
            out.extend(self.session.exec(select(VisitRow).where(where)).all())
        return out

    def checked_in(self, visit_ids: Iterable[int]) -> set[int]:
        """Those of these visits with a check-in (they are the record: nothing joins or leaves)."""
        return {
            int(vid)
            for where in in_conditions(self.session, col(CheckInRow.visit_id), visit_ids)
            for (vid,) in self.session.execute(sa.select(col(CheckInRow.visit_id)).where(where))
        }

    def at_many(self, doors: Iterable[tuple[str, date]]) -> dict[tuple[str, date], VisitRow]:
        """The visits there are at these (enterprise, date) doors."""
        wanted = set(doors)
        if not wanted:
            return {}
        first, last = min(d for _, d in wanted), max(d for _, d in wanted)
        found: dict[tuple[str, date], VisitRow] = {}
        for chunk in chunked(sorted({e for e, _ in wanted})):
            for row in self.session.exec(
                select(VisitRow)
                .where(col(VisitRow.enterprise_id).in_(chunk))
                .where(col(VisitRow.day) >= first, col(VisitRow.day) <= last)
            ).all():
                if (row.enterprise_id, row.day) in wanted:
                    found[(row.enterprise_id, row.day)] = row
        return found
