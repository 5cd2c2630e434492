"""Queries of the public side of codes: the inspectors an agency sent on a visit, the failed
typed-code attempts (a counter every API process shares), and enterprises by region and name
for printing their 监督码 in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from quietday.persistence.base import Repository
from quietday.persistence.tables import (
    CodeAttemptRow,
    EnterpriseRow,
    InspectorRow,
    VisitInspectorRow,
)

__all__ = ["AttemptRepository", "PosterRepository", "VisitInspectorRepository"]


class VisitInspectorRepository(Repository[VisitInspectorRow]):
    model = VisitInspectorRow
    label = "入企执法人员"

    def of_agency(self, visit_id: int, agency_id: str) -> Sequence[InspectorRow]:
        """The inspectors of one agency sent on a visit, by name."""
        return self.session.exec(
            select(InspectorRow)
            .join(VisitInspectorRow, col(VisitInspectorRow.inspector_id) == col(InspectorRow.id))
            .where(VisitInspectorRow.visit_id == visit_id, InspectorRow.agency_id == agency_id)
            .order_by(col(InspectorRow.name), col(InspectorRow.id))
        ).all()


class AttemptRepository(Repository[CodeAttemptRow]):
    model = CodeAttemptRow
    label = "检查码尝试"

    def failures(self, keys: Sequence[str], hour: datetime) -> dict[str, int]:
        """Failed attempts in `hour` under each of `keys` (absent: none)."""
        rows = self.session.exec(
            select(CodeAttemptRow.key, CodeAttemptRow.failures).where(
                col(CodeAttemptRow.key).in_(list(keys)), CodeAttemptRow.hour == hour
            )
        ).all()
        return {k: int(n) for k, n in rows}

    def count_failure(self, keys: Sequence[str], hour: datetime) -> None:
        """One more failed attempt under each key, one statement each (requests of other
        processes at the same moment add up: an upsert, never a read then a write)."""
        dialect = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        for key in keys:
            statement = (
                dialect.insert(CodeAttemptRow)
                .values(key=key, hour=hour, failures=1)
                .on_conflict_do_update(
                    index_elements=["key", "hour"],
                    set_={"failures": col(CodeAttemptRow.failures) + 1},
                )
            )
            self.session.execute(statement)

    def forget_before(self, hour: datetime) -> None:
        """Drop the counts of hours before `hour` (they no longer limit anyone)."""
        self.session.execute(sa.delete(CodeAttemptRow).where(col(CodeAttemptRow.hour) < hour))


class PosterRepository(Repository[EnterpriseRow]):
    model = EnterpriseRow
    label = "企业"

    @staticmethod
    def _conditions(region: str, name: str) -> list[sa.ColumnElement[bool]]:
        out: list[sa.ColumnElement[bool]] = []
        if region:
            out.append(col(EnterpriseRow.region_code).startswith(region))
        if name:
            pattern = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            out.append(col(EnterpriseRow.name).like(f"%{pattern}%", escape="\\"))
        return out

    def page(self, *, region: str, name: str, offset: int, limit: int) -> Sequence[EnterpriseRow]:
        """Enterprises in a region (code prefix) whose name contains `name`, by id."""
        query = select(EnterpriseRow).where(*self._conditions(region, name))
        return self.session.exec(
            query.order_by(col(EnterpriseRow.id)).offset(offset).limit(limit)
        ).all()

    def count(self, *, region: str, name: str) -> int:
        query = sa.select(sa.func.count()).select_from(EnterpriseRow)
        return int(self.session.execute(query.where(*self._conditions(region, name))).scalar_one())
