"""Queries of plans (what a run reads of them, listing, intake) and of imported history."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import col, select

from quietday.domain.filing import Approval
from quietday.domain.status import PlanStatus
from quietday.errors import NotFoundError
from quietday.persistence.agency import like_pattern
from quietday.persistence.base import Repository, chunked, columns_of, in_conditions
from quietday.persistence.tables import (
    CheckInRow,
    EnterpriseRow,
    HistoryRow,
    PlanRow,
)

__all__ = ["HistoryFacts", "HistoryRepository", "PlanFacts", "PlanFilter", "PlanRepository"]


class PlanFilter:
    """What a plan listing may be narrowed by."""

    def __init__(
        self,
        *,
        agency_id: str | None = None,
        status: str | None = None,
        enterprise_id: str | None = None,
        kind: str | None = None,
        window_from: date | None = None,
        window_to: date | None = None,
        enterprise_text: str | None = None,
        remote: bool | None = None,
    ) -> None:
        self.agency_id = agency_id
        self.status = status
        self.enterprise_id = enterprise_id
        # Part of the enterprise's name, or the start of its code (the agency pages' search).
        self.enterprise_text = enterprise_text
        self.kind = kind
        self.window_from = window_from
        self.window_to = window_to
        # True: remote plans (非现场) only; False: on-site ones only.
        self.remote = remote


def _done(by: date) -> Any:
    """A plan carried out by `by`: its agency checked in on its visit on or before that day."""
    return (
        sa.select(col(CheckInRow.id))
        .where(
            col(CheckInRow.visit_id) == col(PlanRow.visit_id),
            col(CheckInRow.agency_id) == col(PlanRow.agency_id),
            col(CheckInRow.day) <= by,
        )
        .exists()
    )


class PlanRepository(Repository[PlanRow]):
    model = PlanRow
    label = "检查计划"

    def get_for(self, plan_id: int, agency_id: str | None) -> PlanRow:
        """The plan, if the caller (an agency, or a supervisor when `agency_id` is None) may see
        it; another agency's plan is reported missing, never forbidden."""
        row = self.get(plan_id)
        if row is None or (agency_id is not None and row.agency_id != agency_id):
            raise NotFoundError(f"检查计划 {plan_id} 不存在")
        return row

    def by_external_refs(self, agency_id: str, refs: Iterable[str]) -> dict[str, PlanRow]:
        found: dict[str, PlanRow] = {}
        for chunk in chunked(sorted(set(refs))):
            for row in self.session.exec(
                select(PlanRow).where(
                    PlanRow.agency_id == agency_id, col(PlanRow.external_ref).in_(chunk)
                )
            ).all():
                found[str(row.external_ref)] = row
        return found

    def page(self, flt: PlanFilter, *, after: int | None, limit: int) -> Sequence[PlanRow]:
        query = select(PlanRow).order_by(col(PlanRow.id)).limit(limit)
        if after is not None:
            query = query.where(col(PlanRow.id) > after)
        if flt.agency_id is not None:
            query = query.where(PlanRow.agency_id == flt.agency_id)
        if flt.status is not None:
            query = query.where(PlanRow.status == flt.status)
        if flt.enterprise_id is not None:
            query = query.where(PlanRow.enterprise_id == flt.enterprise_id)
        if flt.enterprise_text is not None:
            named = select(EnterpriseRow.id).where(
                sa.or_(
                    col(EnterpriseRow.name).ilike(like_pattern(flt.enterprise_text), escape="\\"),
                    col(EnterpriseRow.id).startswith(flt.enterprise_text.upper(), autoescape=True),
                )
            )
            query = query.where(col(PlanRow.enterprise_id).in_(named))
        if flt.kind is not None:
            query = query.where(PlanRow.kind == flt.kind)
        if flt.window_from is not None:
            query = query.where(col(PlanRow.latest) >= flt.window_from)
        if flt.window_to is not None:
            query = query.where(col(PlanRow.earliest) <= flt.window_to)
        if flt.remote is not None:
            query = query.where(col(PlanRow.remote).is_(flt.remote))
        return self.session.exec(query).all()

    def for_run(
        self, *, start: date, end: date, scope: str | None, done_by: date
    ) -> list[PlanFacts]:
        """Live plans whose window meets the horizon, of enterprises in the scope, by id (special
        ones once approved); not those of the record for this horizon: published for a day outside it, or carried out
        by `done_by` (their agency checked in on their visit); never remote ones (非现场: no door)."""
        published = col(PlanRow.status) == PlanStatus.PUBLISHED
        query = (
            sa.select(*columns_of(PlanRow, PlanFacts._fields))
            .join(EnterpriseRow, col(EnterpriseRow.id) == col(PlanRow.enterprise_id))
            .where(col(PlanRow.status) != PlanStatus.CANCELLED)
            .where(col(PlanRow.remote).is_(False))
            # A special plan is scheduled once its agency's head approved it.
            .where(
                sa.or_(col(PlanRow.kind) != "special", col(PlanRow.approval) == Approval.APPROVED)
            )
            .where(col(PlanRow.earliest) <= end, col(PlanRow.latest) >= start)
            .where(
                ~sa.and_(
                    published,
                    sa.or_(col(PlanRow.published_date) < start, col(PlanRow.published_date) > end),
                )
            )
            .where(~_done(done_by))
            .order_by(col(PlanRow.id))
        )
        if scope:
            query = query.where(col(EnterpriseRow.region_code).startswith(scope))
        return [PlanFacts._make(row) for row in self.session.execute(query)]

    def published_between(
        self, *, start: date, end: date, agency_ids: Iterable[str], done_by: date
    ) -> list[PlanFacts]:
        """Plans of these agencies published for a day from `start` to `end`, by id; not those
        carried out by `done_by` (their check-ins are what happened)."""
        query = (
            sa.select(*columns_of(PlanRow, PlanFacts._fields))
            .where(col(PlanRow.status) == PlanStatus.PUBLISHED)
            .where(col(PlanRow.published_date) >= start, col(PlanRow.published_date) <= end)
            .where(~_done(done_by))
        )
        out = [
            PlanFacts._make(row)
            for where in in_conditions(self.session, col(PlanRow.agency_id), agency_ids)
            for row in self.session.execute(query.where(where))
        ]
        return sorted(out, key=lambda r: r.id)

    def published_of(
        self, enterprise_ids: Iterable[str], *, start: date, end: date, done_by: date
    ) -> list[PlanFacts]:
        """Plans of these enterprises published for a day from `start` to `end`; not those
        carried out by `done_by` (their check-ins are what happened)."""
        query = (
            sa.select(*columns_of(PlanRow, PlanFacts._fields))
            .where(col(PlanRow.status) == PlanStatus.PUBLISHED)
            .where(col(PlanRow.published_date) >= start, col(PlanRow.published_date) <= end)
            .where(~_done(done_by))
        )
        return [
            PlanFacts._make(row)
            for where in in_conditions(self.session, col(PlanRow.enterprise_id), enterprise_ids)
            for row in self.session.execute(query.where(where))
        ]

    def in_visits(self, visit_ids: Iterable[int]) -> list[PlanRow]:
        out: list[PlanRow] = []
        for chunk in chunked(sorted(set(visit_ids))):
            out.extend(
                self.session.exec(select(PlanRow).where(col(PlanRow.visit_id).in_(chunk))).all()
            )
        return out

    def of_visits(self, visit_ids: Iterable[int]) -> list[PlanRow]:
        """The plans in these visits, and those cancelled out of them."""
        ids = sorted(set(visit_ids))
        out: list[PlanRow] = []
        for chunk in chunked(ids):
            out.extend(
                self.session.exec(
                    select(PlanRow).where(
                        sa.or_(
                            col(PlanRow.visit_id).in_(chunk),
                            col(PlanRow.cancelled_visit_id).in_(chunk),
                        )
                    )
                ).all()
            )
        return out

    def in_visit(self, visit_id: int) -> Sequence[PlanRow]:
        return self.session.exec(
            select(PlanRow).where(PlanRow.visit_id == visit_id).order_by(col(PlanRow.id))
        ).all()

    def by_ids(self, ids: Iterable[int]) -> dict[int, PlanRow]:
        out: dict[int, PlanRow] = {}
        for where in in_conditions(self.session, col(PlanRow.id), ids):
            for row in self.session.exec(select(PlanRow).where(where)).all():
                out[int(row.id or 0)] = row
        return out

    def count(self, *, agency_id: str | None = None) -> int:
        query = select(sa.func.count()).select_from(PlanRow)
        if agency_id is not None:
            query = query.where(PlanRow.agency_id == agency_id)
        return int(self.session.exec(query).one())


class HistoryRepository(Repository[HistoryRow]):
    model = HistoryRow
    label = "历史检查"

    def of(self, enterprise_ids: Iterable[str], *, start: date, end: date) -> list[HistoryFacts]:
        """The imported inspections of these enterprises from `start` to `end`."""
        return self._facts(HistoryRow, enterprise_ids, start=start, end=end)

    def checked_in(
        self, enterprise_ids: Iterable[str], *, start: date, end: date
    ) -> list[HistoryFacts]:
        """The check-ins (inspections that took place) at these enterprises from `start` to
        `end`, planned or not."""
        return self._facts(CheckInRow, enterprise_ids, start=start, end=end)

    def _facts(
        self,
        model: type[HistoryRow] | type[CheckInRow],
        enterprise_ids: Iterable[str],
        *,
        start: date,
        end: date,
    ) -> list[HistoryFacts]:
        query = (
            sa.select(*columns_of(model, HistoryFacts._fields))
            .where(col(model.day) >= start, col(model.day) <= end)
            .order_by(col(model.id))
        )
        return [
            HistoryFacts._make(row)
            for where in in_conditions(self.session, col(model.enterprise_id), enterprise_ids)
            for row in self.session.execute(query.where(where))
        ]


class PlanFacts(NamedTuple):
    """What a run's instance needs of a plan, read as plain columns (a quarter holds 10^5)."""

    id: int
    agency_id: str
    enterprise_id: str
    kind: str
    items: list[str]
    earliest: date
    latest: date
    priority: int
    exempt_reason: str | None
    status: str
    version: int
    draft_date: date | None
    published_date: date | None
    visit_id: int | None


class HistoryFacts(NamedTuple):
    enterprise_id: str
    agency_id: str
    day: date
    kind: str
