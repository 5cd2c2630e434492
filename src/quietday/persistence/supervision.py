"""Queries of the supervision view (监督): per agency over a month, its entries and their flags,
the complaints about it and how fast they were closed, and the enterprises it has inspected up
to or near their yearly cap. Each query aggregates in SQL over one month (one year for caps)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import col

from quietday.domain.model import CAPPED_KINDS
from quietday.persistence.dashboard import DashboardRepository
from quietday.persistence.tables import (
    CheckInFlagRow,
    CheckInRow,
    ComplaintRow,
    EnterpriseRow,
    HistoryRow,
)

__all__ = ["CapWarnings", "ClosedComplaint", "SupervisionRepository"]


@dataclass(frozen=True, slots=True)
class CapWarnings:
    """Enterprises an agency has inspected on as many capped dates as its yearly cap (or more),
    and on one date fewer."""

    at_cap: int
    one_below: int


@dataclass(frozen=True, slots=True)
class ClosedComplaint:
    agency_id: str | None
    created_at: datetime
    closed_at: datetime


class SupervisionRepository(DashboardRepository):
    """The dashboard's queries, and these (caps per enterprise in SQL come from there)."""

    def entries(self, first: date, last: date) -> dict[str, int]:
        """Check-ins per agency between two dates."""
        rows = self.session.execute(
            sa.select(col(CheckInRow.agency_id), sa.func.count())
            .where(col(CheckInRow.day) >= first, col(CheckInRow.day) <= last)
            .group_by(col(CheckInRow.agency_id))
        )
        return {str(a): int(n) for a, n in rows}

    def flagged(self, first: date, last: date, codes: Sequence[str]) -> dict[tuple[str, str], int]:
        """(agency, flag code) -> check-ins between two dates with that flag."""
        rows = self.session.execute(
            sa.select(col(CheckInRow.agency_id), col(CheckInFlagRow.code), sa.func.count())
            .join(CheckInRow, col(CheckInRow.id) == col(CheckInFlagRow.check_in_id))
            .where(col(CheckInRow.day) >= first, col(CheckInRow.day) <= last)
            .where(col(CheckInFlagRow.code).in_(list(codes)))
            .group_by(col(CheckInRow.agency_id), col(CheckInFlagRow.code))
        )
        return {(str(a), str(c)): int(n) for a, c, n in rows}

    def complaints_filed(self, start: datetime, end: datetime) -> dict[str | None, int]:
        """Complaints filed in [start, end) per agency complained about (None: no agency)."""
        rows = self.session.execute(
            sa.select(col(ComplaintRow.agency_id), sa.func.count())
            .where(col(ComplaintRow.created_at) >= start, col(ComplaintRow.created_at) < end)
            .group_by(col(ComplaintRow.agency_id))
        )
        return {a: int(n) for a, n in rows}

    def complaints_closed(self, start: datetime, end: datetime) -> list[ClosedComplaint]:
        """Complaints closed in [start, end), with when they were filed."""
        rows = self.session.execute(
            sa.select(
                col(ComplaintRow.agency_id),
                col(ComplaintRow.created_at),
                col(ComplaintRow.closed_at),
            ).where(col(ComplaintRow.closed_at) >= start, col(ComplaintRow.closed_at) < end)
        )
        return [ClosedComplaint(a, c, d) for a, c, d in rows]

    def cap_warnings(
        self, first: date, last: date, *, default_cap: int | None
    ) -> dict[str, CapWarnings]:
        """Per agency: enterprises whose distinct capped dates between `first` and `last` (its
        check-ins, and imported history) reach their agency-enterprise cap, or one below it."""
        capped = sorted(CAPPED_KINDS)
        entered = (
            sa.select(col(CheckInRow.agency_id), col(CheckInRow.enterprise_id), col(CheckInRow.day))
            .where(col(CheckInRow.kind).in_(capped))
            .where(col(CheckInRow.day) >= first, col(CheckInRow.day) <= last)
        )
        history = (
            sa.select(col(HistoryRow.agency_id), col(HistoryRow.enterprise_id), col(HistoryRow.day))
            .where(col(HistoryRow.kind).in_(capped))
            .where(col(HistoryRow.day) >= first, col(HistoryRow.day) <= last)
        )
        dates = sa.union(entered, history).subquery()
        used = (
            sa.select(dates.c.agency_id, dates.c.enterprise_id, sa.func.count().label("used"))
            .group_by(dates.c.agency_id, dates.c.enterprise_id)
            .subquery()
        )
        cap = self._cap_of_enterprise(default_cap)
        near = (
            sa.select(used.c.agency_id, used.c.used, cap.label("cap"))
            .join(EnterpriseRow, col(EnterpriseRow.id) == used.c.enterprise_id)
            .where(cap.is_not(None), used.c.used >= cap - 1)
            .subquery()
        )
        rows = self.session.execute(
            sa.select(
                near.c.agency_id,
                sa.func.sum(sa.case((near.c.used >= near.c.cap, 1), else_=0)),
                sa.func.sum(sa.case((near.c.used < near.c.cap, 1), else_=0)),
            ).group_by(near.c.agency_id)
        )
        return {str(a): CapWarnings(int(at or 0), int(below or 0)) for a, at, below in rows}
