"""Queries of the registry: regions, quiet-day policies, agencies (capacity by date,
inspectors) and enterprises."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import col, select

from quietday.persistence.base import Repository, chunked, columns_of, in_conditions, rows_where_in
from quietday.persistence.tables import (
    AgencyCapacityRow,
    AgencyRow,
    EnterpriseRow,
    InspectorRow,
    PolicyRow,
    RegionRow,
    VisitInspectorRow,
)

__all__ = [
    "AgencyRepository",
    "EnterpriseFacts",
    "EnterpriseRepository",
    "InspectorRepository",
    "PolicyRepository",
    "RegionRepository",
]


class RegionRepository(Repository[RegionRow]):
    model = RegionRow
    label = "行政区划"

    def list(self) -> Sequence[RegionRow]:
        return self.session.exec(select(RegionRow).order_by(col(RegionRow.code))).all()


class PolicyRepository(Repository[PolicyRow]):
    model = PolicyRow
    label = "安静日规则"

    def list(self) -> Sequence[PolicyRow]:
        return self.session.exec(select(PolicyRow).order_by(col(PolicyRow.id))).all()

    def by_ids(self, ids: Iterable[str]) -> Sequence[PolicyRow]:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        return self.session.exec(select(PolicyRow).where(col(PolicyRow.id).in_(wanted))).all()


class AgencyRepository(Repository[AgencyRow]):
    model = AgencyRow
    label = "执法部门"

    def list(self, *, region_prefix: str | None = None) -> Sequence[AgencyRow]:
        query = select(AgencyRow).order_by(col(AgencyRow.id))
        if region_prefix:
            query = query.where(col(AgencyRow.region_code).startswith(region_prefix))
        return self.session.exec(query).all()

    def by_ids(self, ids: Iterable[str]) -> Sequence[AgencyRow]:
        return rows_where_in(self.session, AgencyRow, col(AgencyRow.id), ids)

    def capacities(
        self, agency_ids: Iterable[str], start: date, end: date
    ) -> Sequence[AgencyCapacityRow]:
        wanted = sorted(set(agency_ids))
        out: list[AgencyCapacityRow] = []
        for chunk in chunked(wanted):
            out.extend(
                self.session.exec(
                    select(AgencyCapacityRow)
                    .where(col(AgencyCapacityRow.agency_id).in_(chunk))
                    .where(col(AgencyCapacityRow.day) >= start, col(AgencyCapacityRow.day) <= end)
                ).all()
            )
        return out

    def capacity_overrides(self, agency_id: str) -> Sequence[AgencyCapacityRow]:
        return self.session.exec(
            select(AgencyCapacityRow)
            .where(AgencyCapacityRow.agency_id == agency_id)
            .order_by(col(AgencyCapacityRow.day))
        ).all()

    def set_capacity(self, agency_id: str, day: date, capacity: int | None) -> None:
        row = self.session.get(AgencyCapacityRow, (agency_id, day))
        if capacity is None:
            if row is not None:
                self.session.delete(row)
        elif row is None:
            self.session.add(AgencyCapacityRow(agency_id=agency_id, day=day, capacity=capacity))
        else:
            row.capacity = capacity
            self.session.add(row)
        self.session.flush()


class InspectorRepository(Repository[InspectorRow]):
    model = InspectorRow
    label = "执法人员"

    def on_visit(self, visit_id: int) -> list[int]:
        return list(
            self.session.exec(
                select(VisitInspectorRow.inspector_id).where(VisitInspectorRow.visit_id == visit_id)
            ).all()
        )

    def set_on_visit(
        self, visit_id: int, inspector_ids: Sequence[int], *, agencies: set[str]
    ) -> None:
        """Replace the inspectors of `agencies` on a visit with `inspector_ids`."""
        current = self.session.exec(
            select(VisitInspectorRow, InspectorRow)
            .join(InspectorRow, col(InspectorRow.id) == col(VisitInspectorRow.inspector_id))
            .where(VisitInspectorRow.visit_id == visit_id)
        ).all()
        for link, inspector in current:
            if inspector.agency_id in agencies and inspector.id not in inspector_ids:
                self.session.delete(link)
        present = {link.inspector_id for link, _ in current}
        self.session.add_all(
            VisitInspectorRow(visit_id=visit_id, inspector_id=i)
            for i in inspector_ids
            if i not in present
        )
        self.session.flush()

    def list(self, *, agency_id: str | None = None) -> Sequence[InspectorRow]:
        query = select(InspectorRow).order_by(col(InspectorRow.id))
        if agency_id is not None:
            query = query.where(InspectorRow.agency_id == agency_id)
        return self.session.exec(query).all()

    def by_certificate(self, number: str) -> InspectorRow | None:
        return self.session.exec(
            select(InspectorRow).where(InspectorRow.certificate_no == number)
        ).first()


class EnterpriseRepository(Repository[EnterpriseRow]):
    model = EnterpriseRow
    label = "企业"

    def page(
        self, *, after: str | None, limit: int, region_prefix: str | None = None
    ) -> Sequence[EnterpriseRow]:
        query = select(EnterpriseRow).order_by(col(EnterpriseRow.id)).limit(limit)
        if after is not None:
            query = query.where(col(EnterpriseRow.id) > after)
        if region_prefix:
            query = query.where(col(EnterpriseRow.region_code).startswith(region_prefix))
        return self.session.exec(query).all()

    def by_ids(self, ids: Iterable[str]) -> Sequence[EnterpriseRow]:
        return rows_where_in(self.session, EnterpriseRow, col(EnterpriseRow.id), ids)

    def facts(self, ids: Iterable[str]) -> list[EnterpriseFacts]:
        """What a run's instance needs of these enterprises, by id (no ORM objects: a
        province's run reads 10^5)."""
        query = sa.select(*columns_of(EnterpriseRow, EnterpriseFacts._fields))
        return [
            EnterpriseFacts._make(row)
            for where in in_conditions(self.session, col(EnterpriseRow.id), ids)
            for row in self.session.execute(query.where(where))
        ]

    def count(self) -> int:
        return int(self.session.exec(select(sa.func.count()).select_from(EnterpriseRow)).one())

    def existing(self, ids: Iterable[str]) -> set[str]:
        wanted = sorted(set(ids))
        found: set[str] = set()
        for chunk in chunked(wanted):
            found.update(
                self.session.exec(
                    select(EnterpriseRow.id).where(col(EnterpriseRow.id).in_(chunk))
                ).all()
            )
        return found


class EnterpriseFacts(NamedTuple):
    id: str
    name: str
    region_code: str
    quiet_policy_id: str
    blackout: list[str]
    whitelisted: bool
    cap_overrides: dict[str, int]
    risk_class: str | None
