"""Queries on complaints (投诉): the supervisors' queue, an enterprise's own, and the count that
keeps one enterprise from flooding the queue. They flush and never commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select

from quietday.persistence.base import Repository
from quietday.persistence.tables import ComplaintRow

__all__ = ["ComplaintFilter", "ComplaintRepository"]


@dataclass(frozen=True, slots=True)
class ComplaintFilter:
    status: str | None = None
    agency_id: str | None = None
    enterprise_id: str | None = None
    # Filed in [created_from, created_to) (UTC instants: a month in China, say).
    created_from: datetime | None = None
    created_to: datetime | None = None


class ComplaintRepository(Repository[ComplaintRow]):
    model = ComplaintRow
    label = "投诉"

    def page(
        self, flt: ComplaintFilter, *, after: int | None, limit: int
    ) -> Sequence[ComplaintRow]:
        """By id, oldest first (ids follow filing order)."""
        query = select(ComplaintRow).order_by(col(ComplaintRow.id)).limit(limit)
        if after is not None:
            query = query.where(col(ComplaintRow.id) > after)
        if flt.status is not None:
            query = query.where(ComplaintRow.status == flt.status)
        if flt.agency_id is not None:
            query = query.where(ComplaintRow.agency_id == flt.agency_id)
        if flt.enterprise_id is not None:
            query = query.where(ComplaintRow.enterprise_id == flt.enterprise_id)
        if flt.created_from is not None:
            query = query.where(col(ComplaintRow.created_at) >= flt.created_from)
        if flt.created_to is not None:
            query = query.where(col(ComplaintRow.created_at) < flt.created_to)
        return self.session.exec(query).all()

    def lock(self, complaint_id: int) -> ComplaintRow | None:
        """The complaint, locked until commit (two supervisors acting on it take turns)."""
        return self.session.exec(
            select(ComplaintRow).where(ComplaintRow.id == complaint_id).with_for_update()
        ).first()

    def of_enterprise(self, enterprise_id: str, *, limit: int) -> Sequence[ComplaintRow]:
        """The enterprise's latest complaints, newest first."""
        return self.session.exec(
            select(ComplaintRow)
            .where(ComplaintRow.enterprise_id == enterprise_id)
            .order_by(col(ComplaintRow.id).desc())
            .limit(limit)
        ).all()

    def filed_since(self, enterprise_id: str, channel: str, since: datetime) -> int:
        """An enterprise's complaints through one channel since a moment."""
        return int(
            self.session.execute(
                sa.select(sa.func.count())
                .select_from(ComplaintRow)
                .where(
                    col(ComplaintRow.enterprise_id) == enterprise_id,
                    col(ComplaintRow.channel) == channel,
                    col(ComplaintRow.created_at) >= since,
                )
            ).scalar_one()
        )
