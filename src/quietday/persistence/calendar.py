"""The official calendar kept in the database (one row per year, seeded from the `holidays`
package by migration 0009) and the published visits on given days. Like `repositories`, they
flush and never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from quietday.domain.status import PlanStatus, VisitStatus
from quietday.official import PACKAGE_SOURCE, official_calendar, official_years
from quietday.persistence.base import Repository, in_conditions
from quietday.persistence.tables import (
    AgencyRow,
    EnterpriseRow,
    OfficialYearRow,
    PlanRow,
    VisitRow,
    metadata,
    utcnow,
)

__all__ = [
    "SEEDED_BY",
    "OfficialYearRepository",
    "VisitOnDay",
    "package_seed",
    "seed_official_years",
]

SEEDED_BY = "migration 0009"


def package_seed(now: datetime) -> list[dict[str, Any]]:
    """A row (as plain values) for every year whose notice the `holidays` package holds."""
    rows = []
    for year in sorted(official_years("CN")):
        cal = official_calendar("CN", [year])
        rows.append(
            {
                "year": year,
                "holidays": {d.isoformat(): cal.names[d] for d in sorted(cal.holidays)},
                "workdays": {d.isoformat(): cal.names[d] for d in sorted(cal.workdays)},
                "papers": [],
                "source": PACKAGE_SOURCE,
                "imported_at": now,
                "imported_by": SEEDED_BY,
            }
        )
    return rows


def seed_official_years(conn: sa.Connection) -> None:
    """Store the package's notices for the years the table does not hold yet."""
    table = metadata.tables[OfficialYearRow.__tablename__]
    present = set(conn.execute(sa.select(table.c.year)).scalars())
    rows = [r for r in package_seed(utcnow()) if r["year"] not in present]
    if rows:
        conn.execute(sa.insert(table), rows)


@dataclass(frozen=True, slots=True)
class VisitOnDay:
    """A published visit, with the names a reader needs and its number of published plans."""

    visit_id: int
    day: date
    enterprise_id: str
    enterprise_name: str
    lead_agency_id: str
    lead_agency_name: str
    plans: int


class OfficialYearRepository(Repository[OfficialYearRow]):
    model = OfficialYearRow
    label = "节假日安排"

    def list(self) -> Sequence[OfficialYearRow]:
        return self.session.exec(select(OfficialYearRow).order_by(col(OfficialYearRow.year))).all()

    def of(self, years: Iterable[int]) -> dict[int, OfficialYearRow]:
        wanted = sorted(set(years))
        if not wanted:
            return {}
        query = select(OfficialYearRow).where(col(OfficialYearRow.year).in_(wanted))
        return {row.year: row for row in self.session.exec(query)}

    def visits_on(
        self, days: Iterable[date], *, after: int | None, limit: int
    ) -> Sequence[VisitOnDay]:
        """Published visits on `days`, by id, after the id `after`."""
        plans = (
            sa.select(sa.func.count())
            .where(
                col(PlanRow.visit_id) == col(VisitRow.id),
                col(PlanRow.status) == PlanStatus.PUBLISHED,
            )
            .scalar_subquery()
        )
        query = (
            sa.select(
                col(VisitRow.id),
                col(VisitRow.day),
                col(VisitRow.enterprise_id),
                col(EnterpriseRow.name),
                col(VisitRow.lead_agency_id),
                col(AgencyRow.name),
                plans,
            )
            .join(EnterpriseRow, col(EnterpriseRow.id) == col(VisitRow.enterprise_id))
            .join(AgencyRow, col(AgencyRow.id) == col(VisitRow.lead_agency_id))
            .where(col(VisitRow.status) == VisitStatus.PUBLISHED)
            .order_by(col(VisitRow.id))
            .limit(limit)
        )
        if after is not None:
            query = query.where(col(VisitRow.id) > after)
        out: list[VisitOnDay] = []
        for where in in_conditions(self.session, col(VisitRow.day), days):
            out.extend(VisitOnDay(*row) for row in self.session.execute(query.where(where)))
        return sorted(out, key=lambda v: v.visit_id)[:limit]

    def count_on(self, days: Iterable[date]) -> int:
        query = sa.select(sa.func.count()).where(col(VisitRow.status) == VisitStatus.PUBLISHED)
        return sum(
            int(self.session.execute(query.where(where)).scalar_one())
            for where in in_conditions(self.session, col(VisitRow.day), days)
        )
