"""Queries of filing and approval: regions' filing lead times, notices of triggered checks, and
the approved special plans a public page lists."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, col, select

from quietday.domain.filing import Approval
from quietday.domain.status import PlanStatus
from quietday.errors import NotFoundError
from quietday.persistence.base import Repository
from quietday.persistence.tables import (
    AgencyRow,
    EnterpriseRow,
    NoticeRow,
    PlanRow,
    RegionRow,
)

__all__ = [
    "NoticeRepository",
    "PublicPlanFacts",
    "approval_moments",
    "filing_leads",
    "public_special_plans",
]


def filing_leads(session: Session) -> dict[str, tuple[int, str]]:
    """The regions that set a filing lead time: code -> (working days, name)."""
    rows = session.execute(
        sa.select(col(RegionRow.code), col(RegionRow.filing_lead_days), col(RegionRow.name)).where(
            col(RegionRow.filing_lead_days).is_not(None)
        )
    )
    return {code: (int(lead), name) for code, lead, name in rows}


class NoticeRepository(Repository[NoticeRow]):
    model = NoticeRow
    label = "检查通知"

    def lock_agency(self, agency_id: str) -> None:
        """Serialise the numbering of an agency's notices: lock its row until the transaction
        ends (a no-op on SQLite, which serialises writers anyway)."""
        self.session.exec(select(AgencyRow).where(AgencyRow.id == agency_id).with_for_update())

    def last_seq(self, agency_id: str, year: int) -> int:
        found = self.session.exec(
            select(sa.func.max(NoticeRow.seq)).where(
                NoticeRow.agency_id == agency_id, NoticeRow.year == year
            )
        ).one()
        return int(found or 0)

    def of_plan(self, plan_id: int) -> NoticeRow | None:
        return self.session.exec(select(NoticeRow).where(NoticeRow.plan_id == plan_id)).first()

    def get_for(self, notice_id: int, agency_id: str | None) -> NoticeRow:
        """The notice, if the caller (an agency, or a supervisor when `agency_id` is None) may
        see it; another agency's is reported missing."""
        row = self.get(notice_id)
        if row is None or (agency_id is not None and row.agency_id != agency_id):
            raise NotFoundError(f"检查通知 {notice_id} 不存在")
        return row

    def page(
        self, *, agency_id: str | None, plan_id: int | None, after: int | None, limit: int
    ) -> Sequence[NoticeRow]:
        query = select(NoticeRow).order_by(col(NoticeRow.id)).limit(limit)
        if agency_id is not None:
            query = query.where(NoticeRow.agency_id == agency_id)
        if plan_id is not None:
            query = query.where(NoticeRow.plan_id == plan_id)
        if after is not None:
            query = query.where(col(NoticeRow.id) > after)
        return self.session.exec(query).all()


class PublicPlanFacts(NamedTuple):
    """What the public page needs of an approved special plan (the enterprise only to count)."""

    agency_id: str
    agency_name: str
    items: list[str]
    earliest: date
    latest: date
    county_code: str
    county_name: str
    enterprise_id: str
    approval_at: datetime
    # Not to be announced (暗访, or exempt): counted nowhere on the public page.
    hidden: bool


def public_special_plans(
    session: Session, *, since: datetime | None = None, before: datetime | None = None
) -> list[PublicPlanFacts]:
    """Approved special plans not cancelled, approved in [since, before) when given."""
    query = (
        sa.select(
            col(PlanRow.agency_id),
            col(AgencyRow.name),
            col(PlanRow.items),
            col(PlanRow.earliest),
            col(PlanRow.latest),
            col(RegionRow.code),
            col(RegionRow.name),
            col(PlanRow.enterprise_id),
            col(PlanRow.approval_at),
            sa.or_(col(PlanRow.unannounced), col(PlanRow.exempt_reason).is_not(None)),
        )
        .join(AgencyRow, col(AgencyRow.id) == col(PlanRow.agency_id))
        .join(EnterpriseRow, col(EnterpriseRow.id) == col(PlanRow.enterprise_id))
        .join(RegionRow, col(RegionRow.code) == col(EnterpriseRow.region_code))
        .where(
            col(PlanRow.kind) == "special",
            col(PlanRow.approval) == Approval.APPROVED,
            col(PlanRow.status) != PlanStatus.CANCELLED,
            col(PlanRow.approval_at).is_not(None),
        )
        .order_by(col(PlanRow.id))
    )
    if since is not None:
        query = query.where(col(PlanRow.approval_at) >= since)
    if before is not None:
        query = query.where(col(PlanRow.approval_at) < before)
    return [PublicPlanFacts._make(row) for row in session.execute(query)]


def approval_moments(session: Session) -> list[datetime]:
    """When each public special plan was approved (the page's months come from these)."""
    return [
        at
        for (at,) in session.execute(
            sa.select(col(PlanRow.approval_at)).where(
                col(PlanRow.kind) == "special",
                col(PlanRow.approval) == Approval.APPROVED,
                col(PlanRow.status) != PlanStatus.CANCELLED,
                col(PlanRow.approval_at).is_not(None),
            )
        )
        if at is not None
    ]
