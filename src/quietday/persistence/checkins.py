"""Queries on check-ins (扫码入企), their flags and ratings. Like `repositories`, they flush and
never commit."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import col, select

from quietday.domain.status import PlanStatus, VisitStatus
from quietday.persistence.base import Repository, in_conditions
from quietday.persistence.tables import (
    CheckInFlagRow,
    CheckInRow,
    EnterpriseRow,
    HistoryRow,
    PlanRow,
    RatingRow,
    VisitRow,
)

__all__ = ["CheckInFilter", "CheckInRepository", "RatingRepository"]


@dataclass(frozen=True, slots=True)
class CheckInFilter:
    agency_id: str | None = None
    enterprise_id: str | None = None
    day_from: date | None = None
    day_to: date | None = None
    flag: str | None = None


class CheckInRepository(Repository[CheckInRow]):
    model = CheckInRow
    label = "入企记录"

    def get_for(self, check_in_id: int, agency_id: str | None) -> CheckInRow | None:
        """A check-in, only if it is `agency_id`'s (any, for None)."""
        row = self.session.get(CheckInRow, check_in_id)
        if row is None or (agency_id is not None and row.agency_id != agency_id):
            return None
        return row

    def page(self, flt: CheckInFilter, *, after: int | None, limit: int) -> Sequence[CheckInRow]:
        query = select(CheckInRow).order_by(col(CheckInRow.id)).limit(limit)
        if after is not None:
            query = query.where(col(CheckInRow.id) > after)
        if flt.agency_id is not None:
            query = query.where(CheckInRow.agency_id == flt.agency_id)
        if flt.enterprise_id is not None:
            query = query.where(CheckInRow.enterprise_id == flt.enterprise_id)
        if flt.day_from is not None:
            query = query.where(col(CheckInRow.day) >= flt.day_from)
        if flt.day_to is not None:
            query = query.where(col(CheckInRow.day) <= flt.day_to)
        if flt.flag is not None:
            flagged = select(CheckInFlagRow.check_in_id).where(CheckInFlagRow.code == flt.flag)
            query = query.where(col(CheckInRow.id).in_(flagged))
        return self.session.exec(query).all()

    def lock_enterprise(self, enterprise_id: str) -> None:
        """Serialise check-ins of one enterprise until commit: each re-judges all of them."""
        self.session.exec(
            select(EnterpriseRow.id).where(EnterpriseRow.id == enterprise_id).with_for_update()
        ).first()

    def of_enterprise(self, enterprise_id: str) -> Sequence[CheckInRow]:
        return self.session.exec(
            select(CheckInRow)
            .where(CheckInRow.enterprise_id == enterprise_id)
            .order_by(col(CheckInRow.day), col(CheckInRow.id))
        ).all()

    def of_enterprises(self, enterprise_ids: Iterable[str]) -> list[CheckInRow]:
        """The check-ins of these enterprises, by enterprise, day and id."""
        rows = [
            row
            for where in in_conditions(self.session, col(CheckInRow.enterprise_id), enterprise_ids)
            for row in self.session.exec(select(CheckInRow).where(where))
        ]
        return sorted(rows, key=lambda r: (r.enterprise_id, r.day, r.id or 0))

    def between(self, first: date, last: date) -> Sequence[CheckInRow]:
        return self.session.exec(
            select(CheckInRow)
            .where(col(CheckInRow.day) >= first, col(CheckInRow.day) <= last)
            .order_by(col(CheckInRow.day), col(CheckInRow.id))
        ).all()

    def history_of(self, enterprise_ids: Iterable[str]) -> Sequence[HistoryRow]:
        """Imported past inspections of these enterprises (they count toward caps)."""
        ids = sorted(set(enterprise_ids))
        if not ids:
            return []
        return self.session.exec(
            select(HistoryRow).where(col(HistoryRow.enterprise_id).in_(ids))
        ).all()

    def published_visits_with(
        self, enterprise_id: str, agency_id: str
    ) -> list[tuple[VisitRow, list[PlanRow]]]:
        """The enterprise's published visits holding plans of `agency_id`, with those plans."""
        rows = self.session.exec(
            select(VisitRow, PlanRow)
            .join(PlanRow, col(PlanRow.visit_id) == col(VisitRow.id))
            .where(
                VisitRow.enterprise_id == enterprise_id,
                VisitRow.status == VisitStatus.PUBLISHED,
                PlanRow.agency_id == agency_id,
                PlanRow.status == PlanStatus.PUBLISHED,
            )
            .order_by(col(VisitRow.day), col(PlanRow.id))
        ).all()
        grouped: dict[int, tuple[VisitRow, list[PlanRow]]] = {}
        for visit, plan in rows:
            grouped.setdefault(int(visit.id or 0), (visit, []))[1].append(plan)
        return list(grouped.values())

    def flags_of(self, ids: Iterable[int]) -> dict[int, list[CheckInFlagRow]]:
        wanted = sorted(set(ids))
        out: dict[int, list[CheckInFlagRow]] = defaultdict(list)
        if not wanted:
            return out
        for row in self.session.exec(
            select(CheckInFlagRow)
            .where(col(CheckInFlagRow.check_in_id).in_(wanted))
            .order_by(col(CheckInFlagRow.check_in_id), col(CheckInFlagRow.code))
        ).all():
            out[row.check_in_id].append(row)
        return out

    def replace_flags(
        self, ids: Iterable[int], codes: Iterable[str], flags: Iterable[CheckInFlagRow]
    ) -> None:
        """Drop the flags with `codes` from check-ins `ids`, then add `flags`."""
        kinds = sorted(set(codes))
        for where in in_conditions(self.session, col(CheckInFlagRow.check_in_id), ids):
            if kinds:
                self.session.execute(
                    sa.delete(CheckInFlagRow).where(where, col(CheckInFlagRow.code).in_(kinds))
                )
        self.session.add_all(flags)
        self.session.flush()


class RatingRepository(Repository[RatingRow]):
    model = RatingRow
    label = "评价"

    def of(self, ids: Iterable[int]) -> dict[int, RatingRow]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        return {
            r.check_in_id: r
            for r in self.session.exec(
                select(RatingRow).where(col(RatingRow.check_in_id).in_(wanted))
            ).all()
        }

    def given_before(self, agency_id: str, before: datetime) -> list[tuple[datetime, int]]:
        """When each rating of the agency's check-ins was first given, and its score, for those
        given before `before`."""
        rows = self.session.execute(
            select(RatingRow.created_at, RatingRow.score)
            .join(CheckInRow, col(CheckInRow.id) == col(RatingRow.check_in_id))
            .where(CheckInRow.agency_id == agency_id, col(RatingRow.created_at) < before)
        ).all()
        return [(at, int(score)) for at, score in rows]
